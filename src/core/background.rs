//! Background work of the core (the token expiry sweep, the auto-unseal loop): each on a
//! thread of its own with a current-thread runtime, since the core is used from pingora's
//! runtimes and from none, and nothing in it is tied to one runtime.

/// Runs `work` on a new thread named `name`, with a runtime for the core's async calls.
/// `what` names the work in the error logged when the thread or runtime cannot start.
pub(super) fn spawn(
    name: &str,
    what: &'static str,
    work: impl FnOnce(&tokio::runtime::Runtime) + Send + 'static,
) {
    let spawned = std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => work(&runtime),
                Err(e) => tracing::error!("{what} cannot start its runtime: {e}"),
            }
        });
    if let Err(e) = spawned {
        tracing::error!("{what} cannot start: {e}");
    }
}
