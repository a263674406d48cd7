use clap::Parser;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    // KEYLEAK_LOG first, then the RUST_LOG that Rust tools read; colour only on a terminal,
    // so log files and collectors get plain text.
    let filter = EnvFilter::try_from_env("KEYLEAK_LOG")
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
    let cli = keyleak::cli::Cli::parse();
    match keyleak::cli::main(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("keyleak: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
