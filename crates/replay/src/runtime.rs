//! The async runtime every database command runs on, set up and torn down the same way.

use std::future::Future;
use std::process::ExitCode;
use std::time::Duration;

/// Run `work` to completion on a fresh multi-threaded runtime. Ctrl-C / SIGTERM never leave
/// containers, clusters or scratch databases behind (the cleanup is installed first), child
/// processes and connections are gone with the runtime before this returns, and an interrupt
/// ends the process as 130/143 here rather than as the error its cleanup caused. `Err` is the
/// exit code for a runtime that could not start (exit 2, already reported).
pub(crate) fn block_on_cleanly<F: Future>(work: F) -> Result<F::Output, ExitCode> {
    gate_backends::install_signal_cleanup();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| gate_cli::fail(&anyhow::anyhow!("cannot start the async runtime: {e}")))?;
    let output = rt.block_on(work);
    rt.shutdown_timeout(Duration::from_secs(5));
    gate_backends::exit_if_interrupted();
    Ok(output)
}
