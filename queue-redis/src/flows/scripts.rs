//! The workflow scripts (`lua/flow_*.lua`), each prefixed with `lua/flow_lib.lua`, and the one
//! way they are called: with the workflow's sixteen keys.

use std::sync::LazyLock;

use queue_core::flow::FlowId;
use queue_core::Result;
use redis::{Script, Value};

use crate::script_call::ScriptCall;
use crate::RedisDriver;

macro_rules! flow_script {
    ($name:ident, $file:literal) => {
        pub(super) static $name: LazyLock<Script> = LazyLock::new(|| {
            Script::new(concat!(
                include_str!("../../lua/flow_lib.lua"),
                "\n",
                include_str!(concat!("../../lua/", $file))
            ))
        });
    };
}

flow_script!(CREATE, "flow_create.lua");
flow_script!(ADD, "flow_add.lua");
flow_script!(START, "flow_start.lua");
flow_script!(TAKE, "flow_take.lua");
flow_script!(HANDED, "flow_handed.lua");
flow_script!(RECLAIM, "flow_reclaim.lua");
flow_script!(END, "flow_end.lua");
flow_script!(PROPAGATE, "flow_propagate.lua");
flow_script!(REOPEN, "flow_reopen.lua");
flow_script!(REMOVE, "flow_remove.lua");

/// An argument of a flow script.
pub(super) enum Arg<'a> {
    Text(&'a str),
    Bytes(&'a [u8]),
    Int(i64),
}

impl RedisDriver {
    /// Runs `script` on workflow `flow`'s keys with `args`.
    pub(super) async fn run_flow(
        &self,
        script: &Script,
        flow: &FlowId,
        args: &[Arg<'_>],
    ) -> Result<Value> {
        let mut inv = ScriptCall::new(script);
        for key in self.inner.keys.flow(flow.as_str()) {
            inv.key(key);
        }
        for arg in args {
            match arg {
                Arg::Text(text) => inv.arg(*text),
                Arg::Bytes(bytes) => inv.arg(*bytes),
                Arg::Int(n) => inv.arg(*n),
            };
        }
        self.inner.conn.invoke(&inv).await
    }
}
