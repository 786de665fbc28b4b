//! The KV secrets engines: version 1 (one JSON object per path) and version 2 (versions,
//! metadata, check-and-set), behaving as OpenBao's `kv` plugin does on the wire.

mod v1;
mod v2;

use std::sync::Arc;

use crate::clock::SharedClock;
use crate::logical::{Backend, Error};

pub use v1::KvV1;
pub use v2::KvV2;

/// Builds the engine for a mount's `options.version`. An empty version is 1, as Vault does
/// for `kv` mounted without options (`kv-v2` mounts pass "2").
pub fn new_backend(version: &str, clock: SharedClock) -> Result<Arc<dyn Backend>, Error> {
    match version {
        "" | "1" => Ok(Arc::new(KvV1::new())),
        "2" => Ok(Arc::new(KvV2::new(clock))),
        // Vault's own message here is the opaque `nil backend of type "kv" returned from
        // factory`.
        other => Err(Error::bad_request(format!(
            "unsupported kv version {other:?}: must be \"1\" or \"2\""
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SystemClock;

    #[test]
    fn versions() {
        let clock: SharedClock = Arc::new(SystemClock);
        assert!(new_backend("", clock.clone()).is_ok());
        assert!(new_backend("1", clock.clone()).is_ok());
        assert!(new_backend("2", clock.clone()).is_ok());
        assert!(matches!(
            new_backend("3", clock.clone()),
            Err(Error::BadRequest(_))
        ));
        assert!(matches!(
            new_backend("v2", clock),
            Err(Error::BadRequest(_))
        ));
    }
}
