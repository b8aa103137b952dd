//! Golden files for every inventory format, on the committed test root filesystems.
//!
//! Update them after an intended change with `INSTA_UPDATE=always cargo test -p berth-inventory
//! --test golden` (or `cargo insta review`), and read the diff before committing.

use berth_inventory::report::{DocumentMeta, Format, render};
use berth_inventory::{Target, sbom_local};

fn meta() -> DocumentMeta {
    DocumentMeta { timestamp: "2024-01-01T00:00:00Z".to_owned(), tool_version: "0.0.0-test".to_owned() }
}

fn rendered(fixture: &str, format: Format) -> String {
    let inventory = sbom_local(&Target::Rootfs(format!("testdata/rootfs/{fixture}").into())).expect("inventory");
    render(&inventory, format, &meta())
}

#[test]
fn neuro_table() {
    insta::assert_snapshot!(rendered("neuro", Format::Table));
}

#[test]
fn neuro_json() {
    insta::assert_snapshot!(rendered("neuro", Format::Json));
}

#[test]
fn neuro_cyclonedx() {
    insta::assert_snapshot!(rendered("neuro", Format::CycloneDx));
}

#[test]
fn neuro_spdx() {
    insta::assert_snapshot!(rendered("neuro", Format::Spdx));
}

#[test]
fn alpine_table() {
    insta::assert_snapshot!(rendered("alpine", Format::Table));
}

#[test]
fn centos7_berkeleydb_table() {
    insta::assert_snapshot!(rendered("centos7", Format::Table));
}

#[test]
fn rocky9_sqlite_json() {
    insta::assert_snapshot!(rendered("rocky9", Format::Json));
}

#[test]
fn distroless_status_d_table() {
    insta::assert_snapshot!(rendered("distroless", Format::Table));
}
