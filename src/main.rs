//! The `worksync` binary: parse the command line, set up logging, run, map errors to an exit
//! code. Everything else lives in the library.

use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;
use worksync::cli::{Cli, Command, Environment, LogFormat};

fn main() -> ExitCode {
    let cli = Cli::parse();
    // git reads the merge driver's own exit codes (0, 1, 2); it needs no logging or runtime.
    if let Some(Command::MergeDriver(args)) = &cli.command {
        return ExitCode::from(worksync::app::merge_driver(args));
    }
    let log = init_tracing(cli.log_format);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: could not start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(worksync::app::run(cli, Environment::capture()));
    // Written out: every log line comes before the error below.
    drop(log);
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// What is logged when `RUST_LOG` is not set.
const DEFAULT_LOG_FILTER: &str = "info,rmcp=warn";

/// Logs go to stderr; `RUST_LOG` sets the level (default `info`, and `warn` for rmcp, whose
/// three lines per stateless request say nothing the tool call's line does not). A thread
/// of their own writes them, as many lines at a time as are waiting, so that a call does
/// not wait for a write to stderr (one line per call was one system call per call). None
/// is dropped: when lines come faster than stderr takes them, the caller waits. They are
/// all written by the time the returned guard is dropped.
fn init_tracing(format: LogFormat) -> tracing_appender::non_blocking::WorkerGuard {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_LOG_FILTER));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .thread_name("worksync-log")
        .finish(std::io::BufWriter::new(std::io::stderr()));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer).with_ansi(ansi);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Pretty => builder.init(),
    }
    guard
}
