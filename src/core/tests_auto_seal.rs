//! The core under an auto seal. The key service here is an in-process AES-GCM key, so that
//! what the core does with it (and without it) can be checked; the real transit seal
//! against real servers is `tests/integration/test_auto_unseal.py`.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use serde_json::{json, Value};
use zeroize::Zeroizing;

use super::*;
use crate::clock::SystemClock;
use crate::physical::InmemBackend;

use super::tests::{b64, new_core};
use super::tests_rekey::call;

/// A key service that can be switched off, as a transit server that goes down.
#[derive(Debug)]
struct LocalKeyService {
    key: [u8; 32],
    up: AtomicBool,
    /// Every unwrap asked of it, answered or not.
    unwraps: AtomicUsize,
}

impl LocalKeyService {
    fn new() -> Arc<Self> {
        Arc::new(LocalKeyService {
            key: [42u8; 32],
            up: AtomicBool::new(true),
            unwraps: AtomicUsize::new(0),
        })
    }

    fn check_up(&self) -> Result<(), SealUnavailable> {
        if self.up.load(Ordering::SeqCst) {
            Ok(())
        } else {
            Err(SealUnavailable(
                "transit seal at test: connection refused".into(),
            ))
        }
    }
}

#[async_trait::async_trait]
impl AutoSeal for LocalKeyService {
    fn kind(&self) -> &'static str {
        "transit"
    }

    async fn wrap(&self, root_key: &[u8]) -> Result<String, SealUnavailable> {
        self.check_up()?;
        let cipher = Aes256Gcm::new_from_slice(&self.key).unwrap();
        let ct = cipher
            .encrypt(Nonce::from_slice(&[1u8; 12]), root_key)
            .unwrap();
        Ok(format!("vault:v1:{}", b64(&ct)))
    }

    async fn unwrap(&self, wrapped: &str) -> Result<Zeroizing<Vec<u8>>, SealUnavailable> {
        use base64::Engine as _;
        self.unwraps.fetch_add(1, Ordering::SeqCst);
        self.check_up()?;
        let ct = base64::engine::general_purpose::STANDARD
            .decode(wrapped.trim_start_matches("vault:v1:"))
            .map_err(|_| SealUnavailable("bad ciphertext".into()))?;
        let cipher = Aes256Gcm::new_from_slice(&self.key).unwrap();
        cipher
            .decrypt(Nonce::from_slice(&[1u8; 12]), ct.as_slice())
            .map(Zeroizing::new)
            .map_err(|_| SealUnavailable("decryption failed".into()))
    }
}

async fn auto_core(backend: Arc<InmemBackend>, service: &Arc<LocalKeyService>) -> Arc<Core> {
    let config = CoreConfig {
        auto_seal: Some(service.clone() as Arc<dyn AutoSeal>),
        ..CoreConfig::default()
    };
    Core::new(backend, Arc::new(SystemClock), config)
        .await
        .unwrap()
}

async fn put(core: &Core, path: &str, body: Value) -> Result<Value, Error> {
    call(core, Operation::Update, path, body).await
}

#[tokio::test]
async fn init_hands_out_recovery_keys_and_unseals_itself() {
    let service = LocalKeyService::new();
    let core = auto_core(Arc::new(InmemBackend::new()), &service).await;
    let status = core.seal_status();
    assert_eq!(status["type"], "transit");
    assert_eq!(status["recovery_seal"], true);
    assert_eq!(status["initialized"], false);

    // Unseal shares are not this seal's, as in Vault.
    let refused = put(
        &core,
        "sys/init",
        json!({"secret_shares": 5, "secret_threshold": 3}),
    )
    .await;
    match refused {
        Err(Error::BadRequest(m)) => assert_eq!(
            m,
            "parameters secret_shares,secret_threshold not applicable to seal type transit"
        ),
        other => panic!("expected 400, got {other:?}"),
    }
    let init = put(
        &core,
        "sys/init",
        json!({"recovery_shares": 5, "recovery_threshold": 3}),
    )
    .await
    .unwrap();
    assert_eq!(init["keys"], json!([]));
    assert_eq!(init["recovery_keys"].as_array().unwrap().len(), 5);
    assert_eq!(init["recovery_keys_base64"].as_array().unwrap().len(), 5);
    assert!(!core.is_sealed(), "an auto-sealed init unseals at once");
    let status = core.seal_status();
    assert_eq!(
        (status["t"].clone(), status["n"].clone()),
        (json!(3), json!(5))
    );
    assert_eq!(status["recovery_seal_type"], "shamir");
}

#[tokio::test]
async fn a_restart_unseals_through_the_service_and_waits_while_it_is_down() {
    let service = LocalKeyService::new();
    let backend = Arc::new(InmemBackend::new());
    let core = auto_core(backend.clone(), &service).await;
    let init = core.initialize(5, 3, Some("root")).await.unwrap();
    assert!(init.recovery && !core.is_sealed());
    core.shutdown();
    drop(core);

    // The service is down: the core stays sealed, with the service's error, and the
    // recovery keys do not help, since they cannot decrypt anything.
    service.up.store(false, Ordering::SeqCst);
    let core = auto_core(backend.clone(), &service).await;
    assert!(core.is_sealed());
    let e = core.auto_unseal().await.unwrap_err();
    assert!(e.to_string().contains("connection refused"), "{e}");
    for k in &init.keys[..2] {
        core.unseal(&b64(k)).await.unwrap();
    }
    let e = core.unseal(&b64(&init.keys[2])).await.unwrap_err();
    assert!(matches!(e, Error::Internal(_)), "{e:?}");
    assert!(core.is_sealed() && !core.was_unsealed());

    service.up.store(true, Ordering::SeqCst);
    assert!(core.auto_unseal().await.unwrap());
    assert!(!core.is_sealed() && core.was_unsealed());
    // Nothing more to do once unsealed.
    assert!(!core.auto_unseal().await.unwrap());
}

#[tokio::test]
async fn after_a_manual_seal_only_the_recovery_quorum_unseals() {
    let service = LocalKeyService::new();
    let core = auto_core(Arc::new(InmemBackend::new()), &service).await;
    let init = core.initialize(5, 3, None).await.unwrap();
    core.seal().await.unwrap();
    assert!(core.is_sealed());

    // Three well-formed shares of some other key: refused, and progress starts over.
    let other = seal::split(&[9u8; 32], 5, 3);
    for k in &other[..2] {
        core.unseal(&b64(k)).await.unwrap();
    }
    match core.unseal(&b64(&other[2])).await {
        Err(Error::BadRequest(m)) => assert_eq!(m, "unseal failed: invalid recovery key"),
        other => panic!("expected 400, got {other:?}"),
    }
    assert!(core.is_sealed());
    assert_eq!(core.unseal_progress().0, 0);
    // Anyone may call sys/unseal: a quorum that is not the recovery key never gets as far
    // as asking the key service.
    let asked = service.unwraps.load(Ordering::SeqCst);
    for k in &other[..3] {
        let _ = core.unseal(&b64(k)).await;
    }
    assert_eq!(service.unwraps.load(Ordering::SeqCst), asked);

    for k in [&init.keys[4], &init.keys[1], &init.keys[3]] {
        core.unseal(&b64(k)).await.unwrap();
    }
    assert!(!core.is_sealed());
}

#[tokio::test]
async fn recovery_keys_generate_a_root_token_and_rekey_is_refused() {
    let service = LocalKeyService::new();
    let core = auto_core(Arc::new(InmemBackend::new()), &service).await;
    let init = core.initialize(3, 2, None).await.unwrap();
    let attempt = put(&core, "sys/generate-root/attempt", json!({}))
        .await
        .unwrap();
    let (nonce, otp) = (
        attempt["nonce"].as_str().unwrap().to_string(),
        attempt["otp"].as_str().unwrap().to_string(),
    );
    assert_eq!(attempt["required"], 2);
    let mut done = Value::Null;
    for k in &init.keys[..2] {
        done = put(
            &core,
            "sys/generate-root/update",
            json!({"key": b64(k), "nonce": nonce}),
        )
        .await
        .unwrap();
    }
    assert_eq!(done["complete"], true);
    let token = decode_token(done["encoded_token"].as_str().unwrap(), &otp).unwrap();
    let me = core
        .handle_request(
            Request::new(Operation::Read, "auth/token/lookup-self").with_token(token.as_str()),
        )
        .await
        .unwrap();
    assert_eq!(me.data.unwrap()["policies"], json!(["root"]));

    match put(
        &core,
        "sys/rekey/init",
        json!({"secret_shares": 3, "secret_threshold": 2}),
    )
    .await
    {
        Err(Error::BadRequest(m)) => {
            assert!(m.contains("the transit seal holds the root key"), "{m}")
        }
        other => panic!("expected 400, got {other:?}"),
    }
}

#[tokio::test]
async fn a_core_refuses_storage_of_the_other_seal_kind() {
    // Shamir storage under an auto seal.
    let backend = Arc::new(InmemBackend::new());
    new_core(backend.clone())
        .await
        .initialize(1, 1, None)
        .await
        .unwrap();
    let service = LocalKeyService::new();
    let config = CoreConfig {
        auto_seal: Some(service.clone() as Arc<dyn AutoSeal>),
        ..CoreConfig::default()
    };
    let e = Core::new(backend, Arc::new(SystemClock), config)
        .await
        .err()
        .expect("refused");
    assert!(
        e.to_string().contains("sealed with Shamir unseal keys"),
        "{e}"
    );

    // Auto-sealed storage without the seal block.
    let backend = Arc::new(InmemBackend::new());
    auto_core(backend.clone(), &service)
        .await
        .initialize(1, 1, None)
        .await
        .unwrap();
    let e = Core::new(backend, Arc::new(SystemClock), CoreConfig::default())
        .await
        .err()
        .expect("refused");
    assert!(
        e.to_string()
            .contains("sealed by the transit seal, but the config has no seal \"transit\" block"),
        "{e}"
    );
}

#[tokio::test]
async fn an_init_whose_service_is_down_writes_nothing() {
    let service = LocalKeyService::new();
    service.up.store(false, Ordering::SeqCst);
    let core = auto_core(Arc::new(InmemBackend::new()), &service).await;
    let e = core.initialize(5, 3, None).await.err().expect("refused");
    assert!(e.to_string().contains("connection refused"), "{e}");
    assert!(!core.is_initialized());
    service.up.store(true, Ordering::SeqCst);
    assert!(core.initialize(5, 3, None).await.is_ok());
}

#[tokio::test]
async fn a_shamir_server_refuses_recovery_parameters() {
    let core = new_core(Arc::new(InmemBackend::new())).await;
    assert_eq!(core.seal_status()["recovery_seal"], false);
    match put(
        &core,
        "sys/init",
        json!({"recovery_shares": 5, "recovery_threshold": 3}),
    )
    .await
    {
        Err(Error::BadRequest(m)) => assert_eq!(
            m,
            "parameters recovery_shares,recovery_threshold not applicable to seal type shamir"
        ),
        other => panic!("expected 400, got {other:?}"),
    }
    assert!(!core.is_initialized());
}
