//! In-process throughput: validated descriptor + invocation → plan (invocation check and
//! rendering), in pairs per second, on representative descriptors.
#![allow(clippy::unwrap_used)]

use berth_descriptor::{Mode, Value, plan, validate};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const EXAMPLE: &str = include_str!("../testdata/rich.json");
const INVOCATION: &str = include_str!("../testdata/rich-invocation.json");

fn bench(c: &mut Criterion) {
    let d = validate(Value::parse(EXAMPLE).unwrap()).descriptor.unwrap();
    let inv = Value::parse(INVOCATION).unwrap();
    let mut g = c.benchmark_group("render");
    g.throughput(Throughput::Elements(1));
    g.bench_function("plan (check + render), bosh mode", |b| b.iter(|| plan(&d, &inv, Mode::Bosh, "/w").unwrap()));
    g.bench_function("validate descriptor", |b| b.iter(|| validate(Value::parse(EXAMPLE).unwrap())));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
