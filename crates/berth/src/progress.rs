//! Progress display for image pulls: one bar per layer on a terminal, plain lines otherwise.
//! Only the binary draws progress; the libraries report through `PullReporter`.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;

use berth_engine::{LayerPhase, PullEvent, PullReporter};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Shows pull progress on standard error.
pub struct TerminalPull {
    multi: MultiProgress,
    bars: Mutex<HashMap<String, ProgressBar>>,
    interactive: bool,
}

impl TerminalPull {
    /// Bars when standard error is a terminal; otherwise one line per finished layer.
    pub fn new() -> TerminalPull {
        let interactive = std::io::stderr().is_terminal();
        let multi = MultiProgress::with_draw_target(if interactive {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        });
        TerminalPull { multi, bars: Mutex::new(HashMap::new()), interactive }
    }

    fn bar(&self, id: &str) -> ProgressBar {
        let mut bars = self.bars.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        bars.entry(id.to_string())
            .or_insert_with(|| {
                let b = self.multi.add(ProgressBar::new(0));
                b.set_style(
                    ProgressStyle::with_template("{prefix:.bold} {msg:<18} {bar:30} {bytes}/{total_bytes}")
                        .unwrap_or_else(|_| ProgressStyle::default_bar()),
                );
                b.set_prefix(id.chars().take(12).collect::<String>());
                b
            })
            .clone()
    }
}

impl Default for TerminalPull {
    fn default() -> Self {
        TerminalPull::new()
    }
}

fn phase_text(p: &LayerPhase) -> String {
    match p {
        LayerPhase::Waiting => "waiting".into(),
        LayerPhase::PullingFsLayer => "pulling".into(),
        LayerPhase::Downloading => "downloading".into(),
        LayerPhase::VerifyingChecksum => "verifying".into(),
        LayerPhase::DownloadComplete => "downloaded".into(),
        LayerPhase::Extracting => "extracting".into(),
        LayerPhase::PullComplete => "done".into(),
        LayerPhase::AlreadyExists => "already present".into(),
        LayerPhase::Other(s) => s.clone(),
    }
}

impl PullReporter for TerminalPull {
    fn on_event(&self, event: &PullEvent) {
        match event {
            PullEvent::Layer { id, phase, current, total } => {
                let done = matches!(phase, LayerPhase::PullComplete | LayerPhase::AlreadyExists);
                if !self.interactive {
                    if done {
                        eprintln!("berth: layer {id}: {}", phase_text(phase));
                    }
                    return;
                }
                let bar = self.bar(id);
                if let Some(t) = total {
                    bar.set_length(*t);
                }
                if let Some(c) = current {
                    bar.set_position(*c);
                }
                bar.set_message(phase_text(phase));
                if done {
                    bar.finish();
                }
            }
            PullEvent::Message { text } => {
                if self.interactive {
                    let _ = self.multi.println(format!("berth: {text}"));
                } else {
                    eprintln!("berth: {text}");
                }
            }
        }
    }
}
