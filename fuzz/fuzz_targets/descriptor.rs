//! Fuzz target: arbitrary bytes as a descriptor (and, when it validates, the same bytes'
//! second half as an invocation) through parsing, schema and semantic validation, invocation
//! checking and rendering in both modes. Any panic is a bug.
#![no_main]

use berth_descriptor::{Mode, Value, plan, validate};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    // Split on the first NUL: descriptor, then invocation.
    let (desc, inv) = text.split_once('\0').unwrap_or((text, "{}"));
    let Ok(doc) = Value::parse(desc) else { return };
    let v = validate(doc);
    let Some(d) = v.descriptor else { return };
    let inv = Value::parse(inv).unwrap_or(Value::Dict(Default::default()));
    let _ = plan(&d, &inv, Mode::Bosh, "/w");
    let _ = plan(&d, &inv, Mode::Strict, "/w");
    for t in &d.tests {
        let _ = plan(&d, &t.invocation, Mode::Bosh, "/w");
    }
});
