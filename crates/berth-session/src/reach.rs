//! Reachability for a scan: the traced runs of the scanned image, from the store, applied to
//! the report (`berth scan --reachability`; the server can do the same).

use berth_scan::ScanReport;
use berth_scan::reach::TracedRun;
use berth_store::Store;

/// Marks the findings of `report` by the complete traces of runs of its image in `store`.
/// An image without an ID (a root filesystem) has no runs: the report says no run was used.
pub fn reachability(store: &Store, report: &mut ScanReport) -> Result<(), berth_run::RunError> {
    let image_id = report.inventory.target.image_id.clone().unwrap_or_default();
    let recorded = if image_id.is_empty() { Vec::new() } else { berth_run::trace::of_image(store, &image_id)? };
    let (complete, incomplete): (Vec<_>, Vec<_>) = recorded.into_iter().partition(|r| r.record.complete);
    let runs = complete
        .iter()
        .map(|r| TracedRun {
            run_id: r.record.run_id.clone(),
            accesses: r.record.accesses,
            sha256: r.record.sha256.clone(),
            recorded_at: r.record.recorded_at.clone(),
        })
        .collect();
    let incomplete = incomplete.into_iter().map(|r| r.record.run_id).collect();
    berth_scan::reach::annotate(report, &image_id, runs, incomplete, complete.iter().flat_map(|r| r.trace.used()));
    Ok(())
}
