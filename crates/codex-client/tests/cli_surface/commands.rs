//! The sub-command builders against the real binary.

use std::time::Duration;

use codex_client::commands::{
    Apply, CheckStatus, Doctor, Fork, PermissionProfile, Queue, Resume, Review, ReviewTarget,
    Sandbox, SessionCommand, SessionTarget,
};
use codex_client::exec::ExecBuilder;
use codex_client::{CodexHome, auth};
use test_support::{CodexHomeBuilder, FakeResponses, ScriptedResponse};

use crate::fake_cloud::FakeCloud;
use crate::{binary, empty_home, offline_env};

const STEP: Duration = Duration::from_secs(90);

#[tokio::test]
async fn sandbox_profiles_confine_writes_and_network() {
    let temp = CodexHomeBuilder::new("http://127.0.0.1:9/v1").build();
    let home = CodexHome::new(temp.path());
    let work = temp.workdir();
    let bin = binary();
    let script = "touch ./inside && echo wrote-inside; \
                  touch /etc/codex-sandbox-probe 2>&1; \
                  (exec 3<>/dev/tcp/127.0.0.1/9) 2>/dev/null || echo no-network; exit 3";
    let out = Sandbox::new(&bin, &home, ["bash", "-c", script])
        .permission_profile(PermissionProfile::Workspace)
        .cd(work)
        .current_dir(work)
        .output()
        .await
        .expect("run");
    assert_eq!(out.exit_code(), Some(3), "{out:?}");
    assert!(out.stdout.contains("wrote-inside"), "{out:?}");
    assert!(out.stdout.contains("Read-only file system"), "{out:?}");
    assert!(out.stdout.contains("no-network"), "{out:?}");
    assert!(work.join("inside").exists());

    // Without a profile the sandbox is read-only, the working directory included.
    let out = Sandbox::new(&bin, &home, ["sh", "-c", "touch ./denied"])
        .current_dir(work)
        .output()
        .await
        .expect("run");
    assert_ne!(out.exit_code(), Some(0));
    assert!(!work.join("denied").exists());

    // -C without -P is refused by the builder, as clap would.
    assert!(matches!(
        Sandbox::new(&bin, &home, ["true"]).cd(work).command(),
        Err(codex_client::Error::InvalidInvocation(_))
    ));
}

/// `apply` fetches a cloud task's diff from the (loopback) ChatGPT backend with the ChatGPT
/// login of the home and applies it to the repository.
#[tokio::test]
async fn apply_applies_a_cloud_task_diff() {
    let cloud = FakeCloud::start();
    let temp = CodexHomeBuilder::new("http://127.0.0.1:9/v1").build();
    let home = CodexHome::new(temp.path());
    let bin = binary();

    let out = Apply::new(&bin, &home, "task_without_login")
        .envs(offline_env())
        .current_dir(temp.workdir())
        .output()
        .await
        .expect("run");
    assert_eq!(out.exit_code(), Some(1));
    assert_eq!(
        out.error_message().as_deref(),
        Some("ChatGPT auth not available")
    );

    // Log in with ChatGPT through the loopback issuer.
    let mut flow = auth::DeviceAuth::new(&bin, &home)
        .issuer(cloud.base_url())
        .envs(offline_env())
        .start()
        .expect("device auth");
    loop {
        match tokio::time::timeout(STEP, flow.next_event())
            .await
            .expect("in time")
        {
            Some(auth::DeviceAuthEvent::Completed) => break,
            Some(auth::DeviceAuthEvent::Code(_)) => {}
            other => panic!("device auth: {other:?}"),
        }
    }

    cloud.add_task(
        "task_e_1",
        "diff --git a/NOTES.md b/NOTES.md\nnew file mode 100644\n--- /dev/null\n+++ b/NOTES.md\n@@ -0,0 +1 @@\n+applied from the cloud\n",
    );
    let backend = format!("\"{}/backend-api\"", cloud.base_url());
    Apply::new(&bin, &home, "task_e_1")
        .config("chatgpt_base_url", &backend)
        .envs(offline_env())
        .current_dir(temp.workdir())
        .run()
        .await
        .expect("apply");
    assert_eq!(
        std::fs::read_to_string(temp.workdir().join("NOTES.md")).expect("applied file"),
        "applied from the cloud\n"
    );
    assert!(
        cloud
            .paths()
            .contains(&"/backend-api/wham/tasks/task_e_1".to_owned())
    );

    let missing = Apply::new(&bin, &home, "task_missing")
        .config("chatgpt_base_url", &backend)
        .envs(offline_env())
        .current_dir(temp.workdir())
        .output()
        .await
        .expect("run");
    assert_eq!(missing.exit_code(), Some(1));
    assert!(
        missing.error_message().is_some_and(|m| m.contains("404")),
        "{missing:?}"
    );
}

#[tokio::test]
async fn review_runs_a_turn_against_the_loopback_model() {
    let fake = FakeResponses::start();
    fake.enqueue(ScriptedResponse::new().text("Review: the README is fine."));
    let temp = CodexHomeBuilder::new(&fake.base_url()).build();
    let home = CodexHome::new(temp.path());
    std::fs::write(temp.workdir().join("README.md"), "changed\n").expect("edit");
    let out = Review::new(&binary(), &home, ReviewTarget::Uncommitted)
        .envs(temp.env())
        .current_dir(temp.workdir())
        .timeout(STEP)
        .output()
        .await
        .expect("run");
    assert!(out.status.success(), "{out:?}");
    assert!(out.stdout.contains("the README is fine"), "{out:?}");
    let requests = fake.responses_requests();
    assert_eq!(requests.len(), 1);
    let prompt = requests[0].last_user_text().unwrap_or_default();
    assert!(
        prompt.contains("staged, unstaged, and untracked"),
        "the review prompt names the target: {prompt}"
    );
}

async fn one_session(
    fake: &FakeResponses,
    home: &CodexHome,
    temp: &test_support::TempCodexHome,
) -> String {
    fake.enqueue(ScriptedResponse::new().text("saved"));
    let outcome = ExecBuilder::new(&binary(), home)
        .envs(temp.env())
        .current_dir(temp.workdir())
        .prompt("remember me")
        .spawn()
        .await
        .expect("spawn")
        .wait()
        .await
        .expect("exec");
    outcome.thread_id.expect("thread id")
}

#[tokio::test]
async fn queue_archive_unarchive_delete_a_saved_session() {
    let fake = FakeResponses::start();
    let temp = CodexHomeBuilder::new(&fake.base_url()).build();
    let home = CodexHome::new(temp.path());
    let bin = binary();
    let thread = one_session(&fake, &home, &temp).await;
    let rollout = home.find_rollout(&thread).expect("find").expect("rollout");

    let queued = Queue::new(&bin, &home, &thread, "-starts with a dash")
        .envs(temp.env())
        .current_dir(temp.workdir())
        .run()
        .await
        .expect("queue");
    assert_eq!(queued.thread_id, thread);
    assert!(!queued.message_id.is_empty());

    let id = SessionCommand::archive(&bin, &home, &thread)
        .envs(temp.env())
        .run()
        .await
        .expect("archive");
    assert_eq!(id, thread);
    assert!(!rollout.exists());
    let archived = home
        .archived_sessions_dir()
        .join(rollout.file_name().expect("name"));
    assert!(archived.exists());

    SessionCommand::unarchive(&bin, &home, &thread)
        .envs(temp.env())
        .run()
        .await
        .expect("unarchive");
    assert!(home.find_rollout(&thread).expect("find").is_some());

    SessionCommand::delete(&bin, &home, &thread)
        .envs(temp.env())
        .run()
        .await
        .expect("delete");
    assert_eq!(home.find_rollout(&thread).expect("find"), None);
    assert!(!archived.exists());

    let err = SessionCommand::archive(&bin, &home, &thread)
        .envs(temp.env())
        .run()
        .await
        .expect_err("gone");
    assert!(
        matches!(
            err,
            codex_client::Error::Exited {
                status: Some(1),
                ..
            }
        ),
        "{err}"
    );
    let out = Queue::new(&bin, &home, &thread, "late")
        .envs(temp.env())
        .output()
        .await
        .expect("run");
    assert_eq!(out.exit_code(), Some(1));
    assert!(
        out.error_message()
            .is_some_and(|m| m.contains("no rollout found")),
        "{out:?}"
    );
}

/// `resume` and `fork` are TUI commands: the builders' arguments pass clap (a usage error would
/// be exit 2) and Codex then asks for a terminal.
#[tokio::test]
async fn resume_and_fork_arguments_are_accepted_and_need_a_terminal() {
    let (_tmp, home) = empty_home();
    let bin = binary();
    let id = "01a21d5f-b5ad-7770-b776-92c3aa031bf6";
    let runs = [
        Resume::new(&bin, &home, SessionTarget::Id(id.into()))
            .prompt("continue")
            .model("gpt-oss-20b")
            .no_alt_screen(true)
            .output()
            .await,
        Resume::new(&bin, &home, SessionTarget::Last { all: true })
            .prompt("-dash prompt")
            .flag("--include-non-interactive", None)
            .output()
            .await,
        Fork::new(&bin, &home, SessionTarget::Last { all: false })
            .flag("--sandbox", Some("read-only".into()))
            .output()
            .await,
        Fork::new(&bin, &home, SessionTarget::Id(id.into()))
            .output()
            .await,
    ];
    for out in runs {
        let out = out.expect("run");
        assert_eq!(out.exit_code(), Some(1), "{out:?}");
        assert_eq!(
            out.error_message().as_deref(),
            Some("stdin is not a terminal")
        );
    }
    let argv = Resume::new(&bin, &home, SessionTarget::Last { all: true })
        .prompt("hi")
        .argv()
        .expect("argv");
    assert_eq!(argv, ["resume", "--last", "--all", "--", "hi"]);
}

#[tokio::test]
async fn doctor_report_is_typed() {
    let fake = FakeResponses::start();
    let temp = CodexHomeBuilder::new(&fake.base_url()).build();
    let home = CodexHome::new(temp.path());
    let report = Doctor::new(&binary(), &home)
        .envs(temp.env())
        .envs(offline_env())
        .current_dir(temp.workdir())
        .run()
        .await
        .expect("doctor");
    assert_eq!(report.schema_version, 1);
    assert_eq!(
        report.codex_version.as_deref(),
        Some(test_support::PINNED_CODEX_VERSION)
    );
    assert!(report.checks.len() > 10, "{report:?}");
    assert_eq!(
        report.check("config.load").expect("config").status,
        CheckStatus::Ok
    );
    // The loopback provider needs no OpenAI auth.
    assert_eq!(
        report.check("auth.credentials").expect("auth").status,
        CheckStatus::Ok
    );
    // The release probe went to the dead proxy: reported, not fatal.
    let updates = report.check("updates.status").expect("updates");
    assert_ne!(updates.status, CheckStatus::Ok);
    assert!(
        updates.details.to_string().contains("latest version probe"),
        "{updates:?}"
    );
    let failures: Vec<&str> = report.failures().map(|c| c.id.as_str()).collect();
    if failures.is_empty() {
        assert_ne!(report.overall_status, CheckStatus::Fail);
    } else {
        assert_eq!(report.overall_status, CheckStatus::Fail, "{failures:?}");
    }
}
