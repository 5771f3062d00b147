//! A script call written straight into one `EVALSHA` command: the keys gathered in one buffer
//! and copied once into the command at the first argument, the arguments appended to it as they
//! come. Every key comes before the first argument. `redis::ScriptInvocation` keeps every key
//! and argument in an allocation of its own and copies them all into a command when sent; a
//! completion call carrying 512 jobs so made and freed over a thousand small buffers.

use std::borrow::Cow;

use redis::{Cmd, Script, ToRedisArgs};

/// Keys and arguments of one call of `script`, sent by [`Commands::invoke`]
/// (`EVALSHA`, loading the script on `NOSCRIPT`).
///
/// [`Commands::invoke`]: crate::connection::Commands::invoke
pub(crate) struct ScriptCall<'s> {
    script: &'s Script,
    /// The keys, until the first argument writes them into the command.
    keys: Cmd,
    args: Args,
    /// Bytes of arguments expected ([`ScriptCall::expect_bytes`]), to size the command.
    expected: usize,
}

/// Where a call's arguments are written.
enum Args {
    /// None yet.
    None,
    /// Straight into the command to send: `EVALSHA`, the hash, the key count, the keys, then
    /// the arguments so far.
    Direct(Cmd),
}

impl<'s> ScriptCall<'s> {
    /// A call of `script` with no keys or arguments yet.
    pub(crate) fn new(script: &'s Script) -> Self {
        Self {
            script,
            keys: Cmd::new(),
            args: Args::None,
            expected: 0,
        }
    }

    /// The script called.
    pub(crate) fn script(&self) -> &'s Script {
        self.script
    }

    /// Adds a key (`KEYS[i]` in the script). Every key comes before the first argument: the
    /// keys are written into the command when the first argument is.
    ///
    /// # Panics
    ///
    /// When an argument was added already (a bug of the call's wrapper).
    pub(crate) fn key<T: ToRedisArgs>(&mut self, key: T) -> &mut Self {
        assert!(
            matches!(self.args, Args::None),
            "a key of a call of a script added after one of its arguments"
        );
        self.keys.arg(key);
        self
    }

    /// Sizes the command for about `bytes` of arguments, when told before the first one: a
    /// command grown as big payloads are written into it copies what it holds at each
    /// doubling.
    pub(crate) fn expect_bytes(&mut self, bytes: usize) -> &mut Self {
        self.expected = bytes;
        self
    }

    /// Adds an argument (`ARGV[i]` in the script).
    pub(crate) fn arg<T: ToRedisArgs>(&mut self, arg: T) -> &mut Self {
        match &mut self.args {
            Args::None => {
                let mut cmd = started(self.script, &self.keys, self.expected);
                cmd.arg(arg);
                self.args = Args::Direct(cmd);
            }
            Args::Direct(cmd) => {
                cmd.arg(arg);
            }
        }
        self
    }

    /// The command to send.
    pub(crate) fn command(&self) -> Cow<'_, Cmd> {
        match &self.args {
            Args::Direct(cmd) => Cow::Borrowed(cmd),
            Args::None => Cow::Owned(started(self.script, &self.keys, 0)),
        }
    }
}

/// `EVALSHA` of `script` with `keys`, ready for arguments (about `expected` bytes of them).
fn started(script: &Script, keys: &Cmd, expected: usize) -> Cmd {
    let keys_len = keys.args_iter().len();
    let keys_bytes: usize = keys
        .args_iter()
        .map(|arg| match arg {
            redis::Arg::Simple(bytes) => bytes.len(),
            _ => 0,
        })
        .sum();
    // EVALSHA, the hash (40 bytes) and the key count come first.
    let mut cmd = Cmd::with_capacity(3 + keys_len, 7 + 40 + 4 + keys_bytes + expected);
    cmd.arg("EVALSHA").arg(script.get_hash()).arg(keys_len);
    append(&mut cmd, keys);
    cmd
}

/// Appends the arguments of `from` (written by `arg`, never a cursor) to `cmd`.
fn append(cmd: &mut Cmd, from: &Cmd) {
    for arg in from.args_iter() {
        if let redis::Arg::Simple(bytes) = arg {
            cmd.arg(bytes);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The command's arguments, each whole.
    fn words(cmd: &Cmd) -> Vec<Vec<u8>> {
        cmd.args_iter()
            .map(|arg| match arg {
                redis::Arg::Simple(bytes) => bytes.to_vec(),
                _ => panic!("a cursor argument"),
            })
            .collect()
    }

    /// `EVALSHA` of `script` with `keys` and `args`, as the words of a command.
    fn expected(script: &Script, keys: &[&str], args: &[&[u8]]) -> Vec<Vec<u8>> {
        let mut cmd = redis::cmd("EVALSHA");
        cmd.arg(script.get_hash()).arg(keys.len());
        for key in keys {
            cmd.arg(*key);
        }
        for arg in args {
            cmd.arg(*arg);
        }
        words(&cmd)
    }

    #[test]
    fn keys_then_arguments_make_one_evalsha() {
        let script = Script::new("return 1");
        let mut call = ScriptCall::new(&script);
        call.key("{q}:a").key("{q}:b");
        call.arg("job")
            .arg(42_u64)
            .arg(&b"raw"[..])
            .arg("a b")
            .arg("");
        assert_eq!(
            words(&call.command()),
            expected(
                &script,
                &["{q}:a", "{q}:b"],
                &[b"job", b"42", b"raw", b"a b", b""]
            )
        );
        // Byte for byte what the server receives.
        let mut packed = redis::cmd("EVALSHA");
        packed
            .arg(script.get_hash())
            .arg(2)
            .arg("{q}:a")
            .arg("{q}:b")
            .arg("job")
            .arg(42)
            .arg("raw")
            .arg("a b")
            .arg("");
        assert_eq!(
            call.command().get_packed_command(),
            packed.get_packed_command()
        );
    }

    #[test]
    fn a_call_without_arguments_sends_its_keys() {
        let script = Script::new("return 1");
        let mut call = ScriptCall::new(&script);
        call.key("{q}:a");
        assert_eq!(words(&call.command()), expected(&script, &["{q}:a"], &[]));
        let none = ScriptCall::new(&script);
        assert_eq!(words(&none.command()), expected(&script, &[], &[]));
    }

    #[test]
    #[should_panic(expected = "a key of a call of a script added after one of its arguments")]
    fn a_key_after_an_argument_is_refused() {
        let script = Script::new("return 1");
        let mut call = ScriptCall::new(&script);
        call.key("{q}:a").arg("x").key("{q}:b");
    }
}
