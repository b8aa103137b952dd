//! `berth dicom listen`, `ls` and `send`: the DICOM node of berth-dicom, what it received
//! (from berth-store), and sending files to another node, each outcome recorded.

use std::borrow::Cow;
use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use berth_config::text::terminal_safe;
use berth_dicom::{Listener, Overrides, Settings};

use crate::cli::{DicomCommand, DicomListenArgs, DicomLsArgs, DicomSendArgs};
use crate::context::{open_store, site};
use crate::diag;
use crate::printer::{human_size, print_json, time};

pub fn dicom(command: &DicomCommand) -> anyhow::Result<ExitCode> {
    match command {
        DicomCommand::Listen(args) => listen(args),
        DicomCommand::Ls(args) => ls(args),
        DicomCommand::Send(args) => send(args),
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
    // What a sender put in its headers is shown as text, never as terminal control sequences.
    fn safe(s: Option<&str>) -> Cow<'_, str> {
        s.map_or(Cow::Borrowed("-"), terminal_safe)
    }
    for st in &studies {
        writeln!(
            out,
            "{}  study {}  patient {}  {} instances  {}  {} .. {}",
            st.project,
            terminal_safe(&st.study_uid),
            safe(st.patient_id.as_deref()),
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
                safe(se.modality.as_deref()),
                safe(se.description.as_deref()),
                se.instances,
                human_size(i64::try_from(se.bytes).ok()),
                terminal_safe(&se.calling_ae),
                time(&se.last_at),
                terminal_safe(&se.series_uid)
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn send(args: &DicomSendArgs) -> anyhow::Result<ExitCode> {
    use berth_dicom::scu::{Destination, SendOptions, send_recorded};
    let dest = Destination::parse(&args.to).map_err(|e| {
        let hint = e.hint();
        diag::library(e, hint)
    })?;
    if !(args.retry_delay.is_finite() && args.retry_delay >= 0.0) {
        return Err(diag::hinted(format!("--retry-delay `{}` is not a number of seconds", args.retry_delay), None));
    }
    let site = site()?;
    let calling = args
        .ae_title
        .clone()
        .or_else(|| site.config().dicom.ae_title.clone())
        .unwrap_or_else(|| berth_dicom::settings::DEFAULT_AE_TITLE.to_owned());
    let store = open_store()?;
    let files = berth_dicom::scu::collect_files(&args.paths)
        .map_err(|e| diag::hinted(e.to_string(), Some("give DICOM files or directories of them".into())))?;
    let opts = SendOptions {
        calling_ae_title: calling.clone(),
        attempts: args.attempts.max(1),
        retry_delay: std::time::Duration::from_secs_f64(args.retry_delay),
        ..SendOptions::default()
    };
    let sent = send_recorded(&store, &dest, &files, &opts, args.run.as_deref())?;
    let destination = dest.to_string();
    let failed = sent.iter().filter(|s| !s.ok()).count();
    if args.json {
        print_json(&sent)?;
    } else {
        let mut out = std::io::stdout().lock();
        for s in &sent {
            let status = s.status.map_or("-".to_owned(), |c| format!("{c:04X}H"));
            writeln!(
                out,
                "{:<6} {status:>6}  {} attempt(s)  {}",
                if s.ok() { "stored" } else { "failed" },
                s.attempts,
                s.path.display()
            )?;
        }
    }
    if failed > 0 {
        eprintln!("error: {failed} of {} file(s) were not stored by {destination}", sent.len());
        for s in sent.iter().filter(|s| !s.ok()).take(5) {
            eprintln!("  {}: {}", s.path.display(), s.error.as_deref().unwrap_or("refused"));
        }
        return Ok(ExitCode::from(1));
    }
    eprintln!("sent {} file(s) to {destination}", sent.len());
    Ok(ExitCode::SUCCESS)
}
