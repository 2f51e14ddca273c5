mod cli;

fn main() -> std::process::ExitCode {
    let args = cli::parse();
    match cli::run(args) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        // The reader of our output stopped reading (`| head`): what it wanted was written.
        Err(err) if cli::failure::is_broken_pipe(&err) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            // Not `eprintln!`, which panics when stderr is closed: the exit status says it.
            use std::io::Write as _;
            let _ = writeln!(std::io::stderr(), "error: {}", cli::failure::render(&err));
            std::process::ExitCode::FAILURE
        }
    }
}
