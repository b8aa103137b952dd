//! `berth dicom listen` and `berth dicom ls`: the DICOM node of berth-dicom, and what it
//! received, from berth-store.

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use berth_dicom::{Listener, Overrides, Settings};

use crate::cli::{DicomCommand, DicomListenArgs, DicomLsArgs};
use crate::context::{open_store, site};
use crate::diag;
use crate::printer::{human_size, print_json, time};

pub fn dicom(command: &DicomCommand) -> anyhow::Result<ExitCode> {
    match command {
        DicomCommand::Listen(args) => listen(args),
        DicomCommand::Ls(args) => ls(args),
    }
}

fn library(e: berth_dicom::DicomError) -> anyhow::Error {
    let hint = e.hint();
    diag::library(e, hint)
}

fn listen(args: &DicomListenArgs) -> anyhow::Result<ExitCode> {
    let site = site()?;
    let store = Arc::new(open_store()?);
    let flags = Overrides {
        ae_title: args.ae_title.clone(),
        bind: args.bind.clone(),
        port: args.port,
        project: args.project.clone(),
    };
    let settings = Settings::resolve(&site.config().dicom, &flags, &store).map_err(library)?;
    let listener = Listener::bind(settings, store).map_err(library)?;
    let s = listener.settings();
    if listener.swept() > 0 {
        eprintln!("berth dicom: removed {} temporary file(s) a stopped node left", listener.swept());
    }
    eprintln!(
        "berth dicom: listening on {} as `{}` for project \"{}\", writing to {}",
        listener.local_addr().map_err(library)?,
        s.ae_title,
        s.project,
        s.data_root.display()
    );
    listener.serve().map_err(library)?;
    Ok(ExitCode::SUCCESS)
}

fn ls(args: &DicomLsArgs) -> anyhow::Result<ExitCode> {
    let store = open_store()?;
    let studies = store.dicom_studies(args.project.as_deref())?;
    if args.json {
        print_json(&studies)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = std::io::stdout().lock();
    if studies.is_empty() {
        eprintln!("no DICOM studies received");
        return Ok(ExitCode::SUCCESS);
    }
    for st in &studies {
        writeln!(
            out,
            "{}  study {}  patient {}  {} instances  {}  {} .. {}",
            st.project,
            st.study_uid,
            st.patient_id.as_deref().unwrap_or("-"),
            st.instances,
            human_size(i64::try_from(st.bytes).ok()),
            time(&st.first_at),
            time(&st.last_at)
        )?;
        for se in &st.series {
            writeln!(
                out,
                "    series {:>4}  {:<3}  {:<32}  {:>5} instances  {:>9}  from {}  last {}  {}",
                se.series_number.map_or("-".to_owned(), |n| n.to_string()),
                se.modality.as_deref().unwrap_or("-"),
                se.description.as_deref().unwrap_or("-"),
                se.instances,
                human_size(i64::try_from(se.bytes).ok()),
                se.calling_ae,
                time(&se.last_at),
                se.series_uid
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
