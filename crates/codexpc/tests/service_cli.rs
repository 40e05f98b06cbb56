//! `codexpc install-service --dry-run` / `uninstall-service --dry-run` as a user runs them: the
//! printed unit starts this very binary with `serve --model <the configured model>`, restarts on
//! failure, and nothing is written under the home directory.

use std::process::{Command, Stdio};

use anyhow::{Result, ensure};

fn codexpc() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_codexpc"));
    cmd.stdin(Stdio::null()).env("RUST_LOG", "warn");
    cmd
}

#[test]
fn install_service_dry_run_prints_unit_with_configured_model() -> Result<()> {
    let home = tempfile::tempdir()?;
    let model = home.path().join("models/gpt-oss-20b.gguf");
    let out = codexpc()
        .args(["install-service", "--dry-run", "--home"])
        .arg(home.path())
        .arg("--model")
        .arg(&model)
        .args(["--http", "127.0.0.1:11500"])
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    ensure!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let binary = std::fs::canonicalize(env!("CARGO_BIN_EXE_codexpc"))?;
    let exec = format!(
        "ExecStart={} serve --model {} --http 127.0.0.1:11500",
        binary.display(),
        model.display()
    );
    // On Linux: a systemd user unit under the home, and the systemctl commands.
    if cfg!(target_os = "linux") {
        let unit = home.path().join(".config/systemd/user/codexpc.service");
        ensure!(stdout.contains(&unit.display().to_string()), "{stdout}");
        ensure!(
            stdout.lines().any(|l| l == exec
                || l == exec.replace(&binary.display().to_string(), env!("CARGO_BIN_EXE_codexpc"))),
            "no `{exec}` in:\n{stdout}"
        );
        ensure!(stdout.contains("Restart=on-failure"), "{stdout}");
        ensure!(
            stdout.contains("systemctl --user daemon-reload"),
            "{stdout}"
        );
        ensure!(
            stdout.contains("systemctl --user enable --now codexpc.service"),
            "{stdout}"
        );
        ensure!(!unit.exists(), "dry run wrote the unit");
    }
    ensure!(
        std::fs::read_dir(home.path())?.next().is_none(),
        "dry run created files under home"
    );
    Ok(())
}

#[test]
fn uninstall_service_dry_run_and_missing_model_error() -> Result<()> {
    let home = tempfile::tempdir()?;
    let out = codexpc()
        .args(["uninstall-service", "--dry-run", "--home"])
        .arg(home.path())
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    ensure!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    if cfg!(target_os = "linux") {
        ensure!(
            stdout.contains("systemctl --user disable --now codexpc.service"),
            "{stdout}"
        );
        ensure!(stdout.contains("codexpc.service"), "{stdout}");
    }
    // No model: a usage error (exit 2) naming what is missing, nothing printed on stdout.
    let out = codexpc()
        .args(["install-service", "--dry-run", "--home"])
        .arg(home.path())
        .output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure!(
        out.status.code() == Some(2),
        "status {:?}: {stderr}",
        out.status
    );
    ensure!(stderr.contains("--model"), "{stderr}");
    ensure!(out.stdout.is_empty());
    Ok(())
}
