//! Reading a request body under a size limit.
//!
//! The limit is enforced while reading: a client that streams a chunked body of gigabytes is
//! stopped as soon as it crosses the limit, and one that announces a too-large `Content-Length`
//! is stopped before a single body byte is read.

use async_trait::async_trait;
use bytes::Bytes;

use super::json_limits::{Exceeded, JsonScanner};
use crate::config::DEFAULT_MAX_REQUEST_SIZE;
use crate::logical::Error;

/// Where body chunks come from: the pingora session in production, a list of chunks in tests.
#[async_trait]
pub trait BodySource: Send {
    /// The next chunk, or `None` at the end of the body. The error text is only logged.
    async fn next_chunk(&mut self) -> Result<Option<Bytes>, String>;
}

/// The effective limit of a listener: `None` (a negative `max_request_size`) turns it off, and
/// `0` means the default, as in Vault.
pub fn effective_limit(max_request_size: Option<u64>) -> Option<u64> {
    match max_request_size {
        Some(0) => Some(DEFAULT_MAX_REQUEST_SIZE),
        other => other,
    }
}

/// Rejects a declared `Content-Length` over the limit, before anything is read. A malformed
/// value is left to the HTTP parser, which would not have accepted the request anyway.
pub fn check_declared_length(content_length: Option<u64>, limit: Option<u64>) -> Result<(), Error> {
    match (content_length, limit) {
        (Some(len), Some(limit)) if len > limit => Err(Error::TooLarge),
        _ => Ok(()),
    }
}

/// Reads the whole body, failing with [`Error::TooLarge`] as soon as it exceeds `limit`.
pub async fn read_limited(
    source: &mut dyn BodySource,
    limit: Option<u64>,
) -> Result<Vec<u8>, Error> {
    read_body(source, limit, BodyUse::Keep(None)).await
}

/// What becomes of the body's bytes while they are read.
pub enum BodyUse<'a> {
    /// Kept; when a scanner is given, each chunk passes its JSON limits first, so a hostile
    /// body is refused before more of it is stored.
    Keep(Option<&'a mut JsonScanner>),
    /// Counted against the limit and dropped: the request ignores its body, so buffering it
    /// would only cost memory.
    Discard,
}

/// [`read_limited`], with the body's bytes kept (and scanned) or dropped as `usage` says. A
/// dropped body comes back empty.
pub async fn read_body(
    source: &mut dyn BodySource,
    limit: Option<u64>,
    mut usage: BodyUse<'_>,
) -> Result<Vec<u8>, Error> {
    let mut body = Vec::new();
    let mut total: u64 = 0;
    loop {
        let chunk = match source.next_chunk().await {
            Ok(Some(chunk)) => chunk,
            Ok(None) => return Ok(body),
            Err(e) => {
                tracing::debug!(error = %e, "reading request body failed");
                return Err(Error::bad_request("error reading data"));
            }
        };
        total = total.saturating_add(chunk.len() as u64);
        if limit.is_some_and(|limit| total > limit) {
            return Err(Error::TooLarge);
        }
        match &mut usage {
            BodyUse::Keep(scanner) => {
                if let Some(scanner) = scanner {
                    scanner.feed(&chunk).map_err(Exceeded::into_error)?;
                }
                body.extend_from_slice(&chunk);
            }
            BodyUse::Discard => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::JsonLimits;

    struct Chunks {
        chunks: std::collections::VecDeque<Result<Bytes, String>>,
        reads: usize,
    }

    impl Chunks {
        fn new(chunks: Vec<&'static [u8]>) -> Self {
            Chunks {
                chunks: chunks
                    .into_iter()
                    .map(|c| Ok(Bytes::from_static(c)))
                    .collect(),
                reads: 0,
            }
        }
    }

    #[async_trait]
    impl BodySource for Chunks {
        async fn next_chunk(&mut self) -> Result<Option<Bytes>, String> {
            self.reads += 1;
            self.chunks.pop_front().transpose()
        }
    }

    #[tokio::test]
    async fn reads_a_body_within_the_limit() {
        let mut src = Chunks::new(vec![b"ab", b"cd"]);
        assert_eq!(read_limited(&mut src, Some(4)).await.unwrap(), b"abcd");
        let mut src = Chunks::new(vec![]);
        assert!(read_limited(&mut src, Some(0)).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn stops_reading_as_soon_as_the_limit_is_crossed() {
        // Four chunks of 4 bytes against a limit of 6: the second chunk crosses it, and the
        // remaining two are never read.
        let mut src = Chunks::new(vec![b"aaaa", b"bbbb", b"cccc", b"dddd"]);
        let err = read_limited(&mut src, Some(6)).await.unwrap_err();
        assert!(matches!(err, Error::TooLarge));
        assert_eq!(src.reads, 2);
        assert_eq!(src.chunks.len(), 2);
    }

    #[tokio::test]
    async fn no_limit_reads_everything() {
        let mut src = Chunks::new(vec![b"aaaa", b"bbbb"]);
        assert_eq!(read_limited(&mut src, None).await.unwrap().len(), 8);
    }

    #[tokio::test]
    async fn a_read_error_is_a_bad_request() {
        let mut src = Chunks {
            chunks: vec![Ok(Bytes::from_static(b"a")), Err("reset".to_string())].into(),
            reads: 0,
        };
        let err = read_limited(&mut src, Some(10)).await.unwrap_err();
        assert!(matches!(err, Error::BadRequest(_)));
    }

    #[tokio::test]
    async fn a_kept_body_is_scanned_chunk_by_chunk_and_a_discarded_one_is_not_stored() {
        let limits = JsonLimits {
            max_json_array_element_count: Some(2),
            ..JsonLimits::default()
        };
        let mut scanner = JsonScanner::new(&limits);
        let mut src = Chunks::new(vec![b"[1,", b"2,3", b"]", b"never read"]);
        let err = read_body(&mut src, None, BodyUse::Keep(Some(&mut scanner)))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("high complexity"), "{err}");
        assert_eq!(src.reads, 2);

        let mut src = Chunks::new(vec![b"aaaa", b"bbbb"]);
        let body = read_body(&mut src, Some(8), BodyUse::Discard)
            .await
            .unwrap();
        assert!(body.is_empty());
        let mut src = Chunks::new(vec![b"aaaa", b"bbbb"]);
        let err = read_body(&mut src, Some(7), BodyUse::Discard)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::TooLarge));
    }

    #[test]
    fn declared_length_over_the_limit_is_rejected_early() {
        assert!(matches!(
            check_declared_length(Some(11), Some(10)),
            Err(Error::TooLarge)
        ));
        assert!(check_declared_length(Some(10), Some(10)).is_ok());
        assert!(check_declared_length(None, Some(10)).is_ok());
        assert!(check_declared_length(Some(u64::MAX), None).is_ok());
    }

    #[test]
    fn zero_means_the_default_and_none_means_off() {
        assert_eq!(effective_limit(Some(0)), Some(DEFAULT_MAX_REQUEST_SIZE));
        assert_eq!(effective_limit(Some(5)), Some(5));
        assert_eq!(effective_limit(None), None);
    }
}
