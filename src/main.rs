use clap::Parser;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    // KEYLEAK_LOG first, then the RUST_LOG that Rust tools read; colour only on a terminal,
    // so log files and collectors get plain text.
    let filter = EnvFilter::try_from_env("KEYLEAK_LOG")
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| EnvFilter::new("info"))
        // Whatever the level asked: the WebSocket library logs Socket Mode's frames (a secret
        // pasted into a command among them) at trace, and the connection's URL at debug.
        .add_directive("tungstenite=info".parse().expect("a valid directive"))
        .add_directive("tokio_tungstenite=info".parse().expect("a valid directive"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match std::env::var("KEYLEAK_LOG_FORMAT").as_deref() {
        Err(_) | Ok("text") => logs
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
        // One object per line, with the job's span (incident, key) on every line of a playbook.
        Ok("json") => logs
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .init(),
        Ok(other) => {
            eprintln!("keyleak: KEYLEAK_LOG_FORMAT must be text or json, not {other:?}");
            return std::process::ExitCode::FAILURE;
        }
    }
    let cli = keyleak::cli::Cli::parse();
    match keyleak::cli::main(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("keyleak: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
