//! The update advisory against a loopback npm registry.

use std::time::Duration;

use codex_client::CodexVersion;
use codex_client::advisory::{self, ReleaseSource, UpdateStatus};

use crate::fake_cloud::FakeCloud;

#[tokio::test]
async fn advisory_from_a_loopback_registry() {
    let cloud = FakeCloud::start();
    let source = ReleaseSource::npm(cloud.base_url());
    let pinned = CodexVersion::pinned();
    let a = advisory::check(&source, &pinned, advisory::DEFAULT_TIMEOUT)
        .await
        .expect("advisory");
    assert_eq!(a.latest.to_string(), "0.171.0");
    assert_eq!(a.status, UpdateStatus::UpdateAvailable);
    assert!(a.newer_than_pinned);
    assert!(
        a.message().contains("npm install -g @openai/codex@0.171.0"),
        "{}",
        a.message()
    );
    assert_eq!(cloud.paths(), ["/-/package/@openai/codex/dist-tags"]);

    // Another dist-tag of the same answer.
    let next = advisory::latest_version(
        &ReleaseSource::Npm {
            registry: cloud.base_url(),
            tag: "next".into(),
        },
        advisory::DEFAULT_TIMEOUT,
    )
    .await
    .expect("next");
    assert_eq!(next.to_string(), "0.172.0-alpha.1");

    // Up to date.
    let latest = CodexVersion::parse("0.171.0").expect("v");
    let same = advisory::check(&source, &latest, advisory::DEFAULT_TIMEOUT)
        .await
        .expect("advisory");
    assert_eq!(same.status, UpdateStatus::UpToDate);

    // A slow registry is cut off by the timeout.
    cloud.set_registry("0.171.0", Duration::from_secs(5));
    let err = advisory::check(&source, &pinned, Duration::from_millis(300))
        .await
        .expect_err("timeout");
    assert!(matches!(err, codex_client::Error::Timeout { .. }), "{err}");

    // A host-supplied URL that is not a release source gives a clear error.
    let err = advisory::check(
        &ReleaseSource::Url(format!("{}/nothing-here", cloud.base_url())),
        &pinned,
        advisory::DEFAULT_TIMEOUT,
    )
    .await
    .expect_err("404");
    assert!(err.to_string().contains("HTTP 404"), "{err}");
}
