//! Payloads as JSON: the text `serde_json` writes for a value, byte for byte, with strings
//! checked for characters to escape eight bytes at a time.
//!
//! `serde_json` looks at a string one byte at a time; a payload carrying a long text (a
//! document, an image as base64) spends much of its dispatch there: 31 µs for a 100 KB string
//! on the benchmark machine when idle, against 11-17 µs here. Text dense with characters to
//! escape (a quote or a newline every few bytes) is slower here (87.6-92.5 µs per 100 KB
//! against 63.5-80.9 µs), and small values a few nanoseconds slower, so a payload goes through here only
//! after one of a few KB on the same thread.
//! A string is copied in runs between the bytes that need escaping, found a word at a time,
//! and escaped as `serde_json` escapes them. Everything that is not a string (numbers, map
//! keys other than strings, the fields of `serde_json`'s raw values) is still written by
//! `serde_json` itself, so the text (or the error) is the same; the tests compare the two on
//! values of every shape.

use std::io::Write;

use serde::ser::{self, Impossible, Serialize};

/// The errors of encoding: `serde_json`'s own.
type Error = serde_json::Error;

/// Writes `value` as JSON to `out`: the same bytes as `serde_json::to_writer`.
pub(crate) fn to_writer<W: Write, T: ?Sized + Serialize>(
    mut out: W,
    value: &T,
) -> Result<(), Error> {
    value.serialize(Json { out: &mut out })
}

/// The names `serde_json` gives the one-field structs standing for raw JSON text: its
/// `RawValue` (feature `raw_value`) and numbers of its `arbitrary_precision` feature. When
/// the feature is on, `serde_json` writes such a struct's field as it is (or refuses it);
/// their fields are handed to `serde_json` (see [`Map::raw`]).
const RAW_TOKENS: [&str; 2] = [
    "$serde_json::private::RawValue",
    "$serde_json::private::Number",
];

/// Whether `serde_json` (as built into this program, features and all) treats structs named
/// `RAW_TOKENS[k]` as raw text: asked once, by writing one.
fn raw_token(name: &str) -> bool {
    static KNOWN: [std::sync::OnceLock<bool>; 2] =
        [std::sync::OnceLock::new(), std::sync::OnceLock::new()];
    let Some(k) = RAW_TOKENS.iter().position(|token| *token == name) else {
        return false;
    };
    *KNOWN[k].get_or_init(|| {
        let probe = Field {
            name: RAW_TOKENS[k],
            key: RAW_TOKENS[k],
            value: "1",
        };
        serde_json::to_vec(&probe).is_ok_and(|text| text == b"1")
    })
}

/// A struct named `name` with the one field `key`: `value`.
struct Field<'v, T: ?Sized> {
    name: &'static str,
    key: &'static str,
    value: &'v T,
}

impl<T: ?Sized + Serialize> Serialize for Field<'_, T> {
    fn serialize<S: ser::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use ser::SerializeStruct;
        let mut one = s.serialize_struct(self.name, 1)?;
        one.serialize_field(self.key, self.value)?;
        one.end()
    }
}

/// Bytes of a string below which `serde_json`'s own loop is used (no words to scan).
const SHORT: usize = 16;

/// The serializer: writes to `out`.
struct Json<'a, W> {
    out: &'a mut W,
}

fn io(error: std::io::Error) -> Error {
    Error::io(error)
}

#[inline]
fn put<W: Write>(out: &mut W, bytes: &[u8]) -> Result<(), Error> {
    out.write_all(bytes).map_err(io)
}

/// `serde_json`'s serializer on the same output, for what is not a string.
#[inline]
fn plain<W: Write>(out: &mut W) -> serde_json::Serializer<&mut W> {
    serde_json::Serializer::new(out)
}

/// A word with its high bit set in each byte of `word` that JSON needs escaped (below 0x20,
/// `"` or `\`), and possibly in bytes after the first such one (borrows carry); zero exactly
/// when none needs escaping.
#[inline]
fn escapes_in(word: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let below_space = word.wrapping_sub(ONES * 0x20) & !word;
    let quote = word ^ (ONES * u64::from(b'"'));
    let backslash = word ^ (ONES * u64::from(b'\\'));
    let is_quote = quote.wrapping_sub(ONES) & !quote;
    let is_backslash = backslash.wrapping_sub(ONES) & !backslash;
    (below_space | is_quote | is_backslash) & HIGH
}

/// How each byte is written in a JSON string: 0 as it is, else the index of its escape in
/// [`ESCAPES`] plus one.
static KIND: [u8; 256] = {
    let mut kind = [0u8; 256];
    let mut b = 0;
    while b < 0x20 {
        kind[b] = b as u8 + 1;
        b += 1;
    }
    kind[b'"' as usize] = 33;
    kind[b'\\' as usize] = 34;
    kind
};

/// The escapes, as `serde_json` writes them: the short forms where JSON has one, else
/// `\u00XX` with lowercase hex digits; then `\"` and `\\`. Each is padded to six bytes; its
/// length is in [`ESCAPE_LEN`].
static ESCAPES: [[u8; 6]; 34] = {
    let hex = b"0123456789abcdef";
    let mut table = [[0u8; 6]; 34];
    let mut b = 0;
    while b < 32 {
        table[b] = match b as u8 {
            0x08 => *b"\\b    ",
            0x09 => *b"\\t    ",
            0x0a => *b"\\n    ",
            0x0c => *b"\\f    ",
            0x0d => *b"\\r    ",
            _ => [b'\\', b'u', b'0', b'0', hex[b >> 4], hex[b & 0xf]],
        };
        b += 1;
    }
    table[32] = *b"\\\"    ";
    table[33] = *b"\\\\    ";
    table
};

/// The length of each of [`ESCAPES`].
static ESCAPE_LEN: [u8; 34] = {
    let mut len = [6u8; 34];
    len[0x08] = 2;
    len[0x09] = 2;
    len[0x0a] = 2;
    len[0x0c] = 2;
    len[0x0d] = 2;
    len[32] = 2;
    len[33] = 2;
    len
};

/// Writes `text` as a JSON string.
#[inline]
fn string<W: Write>(out: &mut W, text: &str) -> Result<(), Error> {
    if text.len() < SHORT {
        return ser::Serializer::serialize_str(&mut plain(out), text);
    }
    long_string(out, text)
}

fn long_string<W: Write>(out: &mut W, text: &str) -> Result<(), Error> {
    let bytes = text.as_bytes();
    put(out, b"\"")?;
    // `bytes[run..i]` is written as it is once a byte to escape (or the end) is reached.
    let (mut run, mut i) = (0, 0);
    // Whether the last eight bytes had one to escape: then the next eight are looked at one
    // by one straight away, so text dense with escapes costs no more than a byte-wise loop.
    let mut dense = false;
    while i < bytes.len() {
        if !dense {
            if let Some(chunk) = bytes.get(i..i + 8) {
                let word = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
                if escapes_in(word) == 0 {
                    i += 8;
                    continue;
                }
            }
        }
        dense = false;
        let end = (i + 8).min(bytes.len());
        while i < end {
            let kind = KIND[bytes[i] as usize];
            if kind != 0 {
                let k = usize::from(kind - 1);
                put(out, &bytes[run..i])?;
                // Fixed lengths, so each is copied without a call.
                let escape = &ESCAPES[k];
                if ESCAPE_LEN[k] == 2 {
                    put(out, &[escape[0], escape[1]])?;
                } else {
                    put(out, escape)?;
                }
                run = i + 1;
                dense = true;
            }
            i += 1;
        }
    }
    put(out, &bytes[run..])?;
    put(out, b"\"")
}

/// Delegates a scalar to `serde_json`.
macro_rules! scalars {
    ($($method:ident: $ty:ty),* $(,)?) => {
        $(
            fn $method(self, value: $ty) -> Result<(), Error> {
                ser::Serializer::$method(&mut plain(self.out), value)
            }
        )*
    };
}

impl<'a, W: Write> ser::Serializer for Json<'a, W> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Seq<'a, W>;
    type SerializeTuple = Seq<'a, W>;
    type SerializeTupleStruct = Seq<'a, W>;
    type SerializeTupleVariant = Seq<'a, W>;
    type SerializeMap = Map<'a, W>;
    type SerializeStruct = Map<'a, W>;
    type SerializeStructVariant = Map<'a, W>;

    scalars! {
        serialize_bool: bool,
        serialize_i8: i8, serialize_i16: i16, serialize_i32: i32, serialize_i64: i64,
        serialize_i128: i128,
        serialize_u8: u8, serialize_u16: u16, serialize_u32: u32, serialize_u64: u64,
        serialize_u128: u128,
        serialize_f32: f32, serialize_f64: f64,
        serialize_bytes: &[u8],
    }

    #[inline]
    fn serialize_char(self, value: char) -> Result<(), Error> {
        string(self.out, value.encode_utf8(&mut [0; 4]))
    }

    #[inline]
    fn serialize_str(self, value: &str) -> Result<(), Error> {
        string(self.out, value)
    }

    #[inline]
    fn serialize_none(self) -> Result<(), Error> {
        put(self.out, b"null")
    }

    #[inline]
    fn serialize_some<T: ?Sized + Serialize>(self, value: &T) -> Result<(), Error> {
        value.serialize(self)
    }

    #[inline]
    fn serialize_unit(self) -> Result<(), Error> {
        put(self.out, b"null")
    }

    #[inline]
    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Error> {
        put(self.out, b"null")
    }

    #[inline]
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), Error> {
        string(self.out, variant)
    }

    #[inline]
    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        value.serialize(self)
    }

    #[inline]
    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        put(self.out, b"{")?;
        string(self.out, variant)?;
        put(self.out, b":")?;
        value.serialize(Json {
            out: &mut *self.out,
        })?;
        put(self.out, b"}")
    }

    #[inline]
    fn serialize_seq(self, len: Option<usize>) -> Result<Seq<'a, W>, Error> {
        Seq::open(self.out, len, b"]")
    }

    #[inline]
    fn serialize_tuple(self, len: usize) -> Result<Seq<'a, W>, Error> {
        self.serialize_seq(Some(len))
    }

    #[inline]
    fn serialize_tuple_struct(self, _name: &'static str, len: usize) -> Result<Seq<'a, W>, Error> {
        self.serialize_seq(Some(len))
    }

    #[inline]
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Seq<'a, W>, Error> {
        put(self.out, b"{")?;
        string(self.out, variant)?;
        put(self.out, b":")?;
        Seq::open(self.out, Some(len), b"]}")
    }

    #[inline]
    fn serialize_map(self, len: Option<usize>) -> Result<Map<'a, W>, Error> {
        Map::open(self.out, len, b"}")
    }

    #[inline]
    fn serialize_struct(self, name: &'static str, len: usize) -> Result<Map<'a, W>, Error> {
        if raw_token(name) {
            return Ok(Map {
                out: self.out,
                first: true,
                empty: false,
                close: b"",
                raw: Some(name),
            });
        }
        Map::open(self.out, Some(len), b"}")
    }

    #[inline]
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Map<'a, W>, Error> {
        put(self.out, b"{")?;
        string(self.out, variant)?;
        put(self.out, b":")?;
        Map::open(self.out, Some(len), b"}}")
    }
}

/// An array being written (a sequence, tuple or a tuple variant's fields).
struct Seq<'a, W> {
    out: &'a mut W,
    first: bool,
    /// Declared empty, and written so, with nothing added since: only the rest of `close`
    /// is left to write.
    empty: bool,
    /// What ends it: `]`, and `}` after it for a variant.
    close: &'static [u8],
}

impl<'a, W: Write> Seq<'a, W> {
    /// Opens an array of `len` elements closed by `close`. Told it is empty, it is written
    /// whole at once, as `serde_json` does (elements added anyway follow it, after commas,
    /// and then `close`).
    #[inline]
    fn open(out: &'a mut W, len: Option<usize>, close: &'static [u8]) -> Result<Self, Error> {
        let empty = len == Some(0);
        put(out, if empty { b"[]" } else { b"[" })?;
        Ok(Self {
            out,
            first: !empty,
            empty,
            close,
        })
    }

    #[inline]
    fn element<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), Error> {
        if !std::mem::take(&mut self.first) {
            put(self.out, b",")?;
        }
        self.empty = false;
        value.serialize(Json {
            out: &mut *self.out,
        })
    }

    #[inline]
    fn close(self) -> Result<(), Error> {
        put(
            self.out,
            if self.empty {
                &self.close[1..]
            } else {
                self.close
            },
        )
    }
}

/// The four array traits of serde on [`Seq`]: each element through [`Seq::element`].
macro_rules! array_traits {
    ($($trait:ident :: $method:ident),* $(,)?) => {
        $(
            impl<W: Write> ser::$trait for Seq<'_, W> {
                type Ok = ();
                type Error = Error;
                #[inline]
                fn $method<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), Error> {
                    self.element(value)
                }
                #[inline]
                fn end(self) -> Result<(), Error> {
                    self.close()
                }
            }
        )*
    };
}

array_traits! {
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field,
}

/// An object being written (a map, a struct or a struct variant's fields), or `raw`: one of
/// `serde_json`'s structs standing for JSON text, whose field is written as it is.
struct Map<'a, W> {
    out: &'a mut W,
    first: bool,
    /// As [`Seq::empty`].
    empty: bool,
    /// What ends it: `}`, twice for a variant.
    close: &'static [u8],
    /// The struct's name when it stands for raw text (see [`RAW_TOKENS`]).
    raw: Option<&'static str>,
}

impl<'a, W: Write> Map<'a, W> {
    /// Opens an object of `len` entries closed by `close`; empty, as [`Seq::open`].
    #[inline]
    fn open(out: &'a mut W, len: Option<usize>, close: &'static [u8]) -> Result<Self, Error> {
        let empty = len == Some(0);
        put(out, if empty { b"{}" } else { b"{" })?;
        Ok(Self {
            out,
            first: !empty,
            empty,
            close,
            raw: None,
        })
    }

    #[inline]
    fn comma(&mut self) -> Result<(), Error> {
        self.empty = false;
        if std::mem::take(&mut self.first) {
            Ok(())
        } else {
            put(self.out, b",")
        }
    }

    #[inline]
    fn value<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), Error> {
        put(self.out, b":")?;
        value.serialize(Json {
            out: &mut *self.out,
        })
    }

    #[inline]
    fn field<T: ?Sized + Serialize>(&mut self, key: &'static str, value: &T) -> Result<(), Error> {
        if let Some(name) = self.raw {
            return self.raw(name, key, value);
        }
        self.comma()?;
        string(self.out, key)?;
        self.value(value)
    }

    #[inline]
    fn close(self) -> Result<(), Error> {
        put(
            self.out,
            if self.empty {
                &self.close[1..]
            } else {
                self.close
            },
        )
    }

    /// A field of a raw-text struct `name`: written by `serde_json` as the one field of such a
    /// struct (the text as it is; or its error, for a field of another name, as an internally
    /// tagged enum's tag would be, or of another type).
    #[cold]
    fn raw<T: ?Sized + Serialize>(
        &mut self,
        name: &'static str,
        key: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        let text = serde_json::to_vec(&Field { name, key, value })?;
        put(self.out, &text)
    }
}

impl<W: Write> ser::SerializeMap for Map<'_, W> {
    type Ok = ();
    type Error = Error;
    #[inline]
    fn serialize_key<T: ?Sized + Serialize>(&mut self, key: &T) -> Result<(), Error> {
        self.comma()?;
        key.serialize(Key {
            out: &mut *self.out,
        })
    }
    #[inline]
    fn serialize_value<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), Error> {
        self.value(value)
    }
    #[inline]
    fn end(self) -> Result<(), Error> {
        self.close()
    }
}

/// The two struct traits of serde on [`Map`]: each field through [`Map::field`].
macro_rules! struct_traits {
    ($($trait:ident),*) => {
        $(
            impl<W: Write> ser::$trait for Map<'_, W> {
                type Ok = ();
                type Error = Error;
                #[inline]
                fn serialize_field<T: ?Sized + Serialize>(
                    &mut self,
                    key: &'static str,
                    value: &T,
                ) -> Result<(), Error> {
                    self.field(key, value)
                }
                #[inline]
                fn end(self) -> Result<(), Error> {
                    self.close()
                }
            }
        )*
    };
}

struct_traits!(SerializeStruct, SerializeStructVariant);

/// A map key: strings (and what stands for one) here; any other key is written by
/// `serde_json` (numbers and booleans quoted, the rest refused with its error).
struct Key<'a, W> {
    out: &'a mut W,
}

impl<W: Write> Key<'_, W> {
    /// `key` as `serde_json` writes it as a map key: the text between the braces of a map
    /// holding it with a null value.
    fn by_serde_json<K: ?Sized + Serialize>(self, key: &K) -> Result<(), Error> {
        struct Holding<'k, K: ?Sized>(&'k K);
        impl<K: ?Sized + Serialize> Serialize for Holding<'_, K> {
            fn serialize<S: ser::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                use ser::SerializeMap;
                let mut map = s.serialize_map(Some(1))?;
                map.serialize_entry(self.0, &())?;
                map.end()
            }
        }
        let text = serde_json::to_vec(&Holding(key))?;
        let inner = &text[1..text.len() - b":null}".len()];
        put(self.out, inner)
    }
}

/// Delegates a key to `serde_json`.
macro_rules! keys {
    ($($method:ident: $ty:ty),* $(,)?) => {
        $(
            fn $method(self, value: $ty) -> Result<(), Error> {
                self.by_serde_json(&value)
            }
        )*
    };
}

impl<W: Write> ser::Serializer for Key<'_, W> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Impossible<(), Error>;
    type SerializeTuple = Impossible<(), Error>;
    type SerializeTupleStruct = Impossible<(), Error>;
    type SerializeTupleVariant = Impossible<(), Error>;
    type SerializeMap = Impossible<(), Error>;
    type SerializeStruct = Impossible<(), Error>;
    type SerializeStructVariant = Impossible<(), Error>;

    keys! {
        serialize_bool: bool,
        serialize_i8: i8, serialize_i16: i16, serialize_i32: i32, serialize_i64: i64,
        serialize_i128: i128,
        serialize_u8: u8, serialize_u16: u16, serialize_u32: u32, serialize_u64: u64,
        serialize_u128: u128,
        serialize_f32: f32, serialize_f64: f64,
        serialize_bytes: &[u8],
    }

    #[inline]
    fn serialize_char(self, value: char) -> Result<(), Error> {
        string(self.out, value.encode_utf8(&mut [0; 4]))
    }

    #[inline]
    fn serialize_str(self, value: &str) -> Result<(), Error> {
        string(self.out, value)
    }

    #[inline]
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), Error> {
        string(self.out, variant)
    }

    #[inline]
    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        value.serialize(self)
    }

    #[inline]
    fn serialize_some<T: ?Sized + Serialize>(self, value: &T) -> Result<(), Error> {
        value.serialize(self)
    }

    #[inline]
    fn serialize_none(self) -> Result<(), Error> {
        self.by_serde_json(&None::<()>)
    }

    #[inline]
    fn serialize_unit(self) -> Result<(), Error> {
        self.by_serde_json(&())
    }

    #[inline]
    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Error> {
        self.by_serde_json(&())
    }

    #[inline]
    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result<(), Error> {
        self.by_serde_json(&())
    }

    #[inline]
    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq, Error> {
        Err(not_a_key())
    }

    #[inline]
    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple, Error> {
        Err(not_a_key())
    }

    #[inline]
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleStruct, Error> {
        Err(not_a_key())
    }

    #[inline]
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant, Error> {
        Err(not_a_key())
    }

    #[inline]
    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap, Error> {
        Err(not_a_key())
    }

    #[inline]
    fn serialize_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStruct, Error> {
        Err(not_a_key())
    }

    #[inline]
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant, Error> {
        Err(not_a_key())
    }
}

/// `serde_json`'s error for a key that is not a string (a unit key gets it).
fn not_a_key() -> Error {
    serde_json::to_vec(&std::collections::BTreeMap::from([((), ())]))
        .expect_err("a unit key is refused")
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap};

    use serde::Serialize;
    use serde_json::json;

    use super::to_writer;

    /// Both encoders' outcome for `value`: the text, or the error's message.
    fn both<T: ?Sized + Serialize>(value: &T) -> (Result<String, String>, Result<String, String>) {
        let ours = {
            let mut out = Vec::new();
            to_writer(&mut out, value)
                .map(|()| String::from_utf8(out).expect("utf-8"))
                .map_err(|e| e.to_string())
        };
        let theirs = serde_json::to_string(value).map_err(|e| e.to_string());
        (ours, theirs)
    }

    #[track_caller]
    fn same<T: ?Sized + Serialize>(value: &T) {
        let (ours, theirs) = both(value);
        assert_eq!(ours, theirs);
    }

    /// Every ASCII byte (and some multi-byte characters) at every place of strings of 0 to
    /// 40 bytes: runs, escapes and the eight-byte words' edges meet in each way.
    #[test]
    fn strings_are_escaped_as_serde_json_escapes_them() {
        let specials: Vec<char> = (0u8..0x80)
            .map(char::from)
            .chain(['é', '€', '😀', '\u{2028}', '\u{fffd}'])
            .collect();
        for len in 0..40 {
            for &c in &specials {
                for at in 0..len {
                    let text: String = (0..len).map(|i| if i == at { c } else { 'a' }).collect();
                    same(&text);
                }
            }
        }
    }

    /// Long strings with escapes scattered at places drawn from a fixed seed.
    #[test]
    fn long_strings_with_scattered_escapes_match() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let pool = [
            '"', '\\', '\n', '\t', '\u{1}', '\u{1f}', 'é', ' ', 'x', '\u{7f}', '/',
        ];
        for _ in 0..200 {
            let len = (next() % 3000) as usize;
            let text: String = (0..len)
                .map(|_| {
                    if next() % 10 == 0 {
                        pool[(next() % pool.len() as u64) as usize]
                    } else {
                        'x'
                    }
                })
                .collect();
            same(&text);
        }
        same(&"x".repeat(100 << 10));
    }

    #[derive(Serialize)]
    struct Unit;

    #[derive(Serialize)]
    struct Newtype(String);

    #[derive(Serialize)]
    struct Pair(i32, String);

    #[derive(Serialize)]
    enum Shape {
        Empty,
        Label(String),
        Point(i32, i32),
        Sized { width: u32, note: Option<String> },
    }

    #[derive(Serialize)]
    struct Everything {
        text: String,
        ch: char,
        n: i64,
        big: u128,
        neg: i128,
        float: f64,
        small: f32,
        nan: f64,
        inf: f32,
        yes: bool,
        none: Option<u8>,
        some: Option<&'static str>,
        list: Vec<Shape>,
        tuple: (u8, &'static str, ()),
        unit: Unit,
        newtype: Newtype,
        pair: Pair,
        by_name: BTreeMap<String, Vec<u16>>,
        by_number: BTreeMap<i32, &'static str>,
        by_flag: BTreeMap<bool, u8>,
        by_char: BTreeMap<char, u8>,
        by_shape: BTreeMap<&'static str, Shape>,
        empty_list: Vec<u8>,
        empty_map: HashMap<String, u8>,
        value: serde_json::Value,
        #[serde(flatten)]
        extra: BTreeMap<String, serde_json::Value>,
    }

    #[test]
    fn values_of_every_shape_match() {
        let long = "a \"quoted\" line\nand a tab\t and a long tail".repeat(3);
        let value = Everything {
            text: long.clone(),
            ch: '"',
            n: -42,
            big: u128::MAX,
            neg: i128::MIN,
            float: 0.1,
            small: 1.5e-7,
            nan: f64::NAN,
            inf: f32::INFINITY,
            yes: true,
            none: None,
            some: Some("control \u{1} byte in a long enough string"),
            list: vec![
                Shape::Empty,
                Shape::Label(long.clone()),
                Shape::Point(-1, 2),
                Shape::Sized {
                    width: 7,
                    note: Some("ok".into()),
                },
                Shape::Sized {
                    width: 0,
                    note: None,
                },
            ],
            tuple: (1, "two", ()),
            unit: Unit,
            newtype: Newtype(long.clone()),
            pair: Pair(3, "three".into()),
            by_name: BTreeMap::from([(long.clone(), vec![1, 2]), ("k\u{0}ey".into(), vec![])]),
            by_number: BTreeMap::from([(-5, "minus five"), (10, "ten")]),
            by_flag: BTreeMap::from([(false, 0), (true, 1)]),
            by_char: BTreeMap::from([('\n', 1), ('z', 2)]),
            by_shape: BTreeMap::from([("a", Shape::Point(1, 1))]),
            empty_list: Vec::new(),
            empty_map: HashMap::new(),
            value: json!({"nested": [1, 2.5, null, {"deep": "er\u{8}"}], "e": {}}),
            extra: BTreeMap::from([("flattened".into(), json!([true, "x"]))]),
        };
        same(&value);
        same(&[1.0f64, -0.0, 1e300, f64::MIN_POSITIVE, 123456789.125]);
        same(&Some(Unit));
        same(&"short");
        same(&'€');
    }

    #[test]
    fn raw_json_text_is_written_as_it_is() {
        let raw =
            serde_json::value::RawValue::from_string(r#"{"kept" : [1, 2,3], "as":"it is"}"#.into())
                .unwrap();
        same(&raw);
        same(&BTreeMap::from([("raw", &raw)]));
        same(&vec![&raw, &raw]);
    }

    #[test]
    fn raw_values_where_serde_json_refuses_them_are_refused_alike() {
        let raw = serde_json::value::RawValue::from_string(r#"{"a":1}"#.into()).unwrap();
        #[derive(Serialize)]
        #[serde(tag = "kind")]
        enum Tagged {
            Doc(Box<serde_json::value::RawValue>),
        }
        let (ours, theirs) = both(&Tagged::Doc(raw));
        assert!(theirs.is_err(), "{theirs:?}");
        assert_eq!(ours, theirs);
        // A struct whose name only looks like serde_json's is an ordinary struct.
        #[derive(Serialize)]
        #[serde(rename = "$serde_json::private::Other")]
        struct Lookalike {
            a: u8,
        }
        same(&Lookalike { a: 1 });
    }

    /// Sequences and maps told they are empty are written whole at once, as serde_json
    /// writes them, whatever follows.
    #[test]
    fn declared_empty_collections_match() {
        struct Liar;
        impl Serialize for Liar {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                use serde::ser::SerializeSeq;
                let mut seq = s.serialize_seq(Some(0))?;
                seq.serialize_element(&1)?;
                seq.serialize_element(&2)?;
                seq.end()
            }
        }
        same(&Liar);
        #[derive(Serialize)]
        enum Empty {
            Tuple(),
            Struct {},
        }
        same(&[Empty::Tuple(), Empty::Struct {}]);
        #[derive(Serialize)]
        struct Skipping {
            #[serde(skip_serializing_if = "Option::is_none")]
            a: Option<u8>,
            #[serde(skip)]
            _b: u8,
        }
        same(&Skipping { a: None, _b: 1 });
        same(&Skipping { a: Some(1), _b: 1 });
        same(&(Vec::<u8>::new(), BTreeMap::<String, u8>::new(), ()));
    }

    #[test]
    fn keys_that_are_not_strings_get_serde_json_s_answer() {
        same(&BTreeMap::from([((), 1)]));
        same(&BTreeMap::from([(vec![1], 1)]));
        same(&BTreeMap::from([(Some(3), 1)]));
        same(&BTreeMap::from([(None::<u8>, 1)]));
        same(&BTreeMap::from([(Pair(1, "x".into()).0, 1)]));
        let (ours, _) = both(&BTreeMap::from([((), 1)]));
        assert!(ours.unwrap_err().contains("key must be a string"));
        #[derive(Serialize)]
        struct FloatKeys(#[serde(serialize_with = "float_keys")] ());
        fn float_keys<S: serde::Serializer>(_: &(), s: S) -> Result<S::Ok, S::Error> {
            use serde::ser::SerializeMap;
            let mut map = s.serialize_map(Some(2))?;
            map.serialize_entry(&1.5f64, "one and a half")?;
            map.serialize_entry(&f64::NAN, "not a number")?;
            map.end()
        }
        same(&FloatKeys(()));
    }
}
