//! Installing `codexpc serve` as a per-user background service: a systemd user unit on Linux
//! and a launchd agent plist on macOS.
//!
//! Planning is pure ([`plan_install`] / [`plan_uninstall`] return the files to write and the
//! commands to run), so `--dry-run` prints exactly what a real run would do and tests check the
//! plan without touching the machine. [`apply`] then writes the files and runs the commands; when
//! the service manager isn't reachable (no user systemd in a container, say) it keeps the files
//! and says how to start the service by hand instead of failing.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// systemd unit / launchd label.
pub const SERVICE_NAME: &str = "codexpc";
/// launchd label (reverse-DNS, as launchd expects).
pub const LAUNCHD_LABEL: &str = "dev.orbitdock.codexpc";

/// Which service manager to target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    Systemd,
    Launchd,
}

impl Platform {
    /// The platform this binary runs on.
    pub fn current() -> Self {
        if cfg!(target_os = "macos") {
            Self::Launchd
        } else {
            Self::Systemd
        }
    }
}

/// What the service should run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceSpec {
    /// Absolute path of the `codexpc` binary.
    pub binary: PathBuf,
    /// Arguments after the binary, e.g. `["serve", "--model", "/m/gpt-oss-20b.gguf"]`.
    pub args: Vec<OsString>,
    /// Extra environment (e.g. `RUST_LOG`).
    pub env: Vec<(String, String)>,
    /// Where logs go on launchd (systemd uses the journal).
    pub log_dir: PathBuf,
}

/// A file the plan writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedFile {
    pub path: PathBuf,
    pub contents: String,
}

/// Files to write (or remove) and commands to run, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub platform: Platform,
    pub write: Vec<PlannedFile>,
    pub remove: Vec<PathBuf>,
    pub commands: Vec<Vec<String>>,
}

impl Plan {
    /// Human-readable description, used for `--dry-run`.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for f in &self.write {
            let _ = writeln!(out, "# would write {}", f.path.display());
            out.push_str(&f.contents);
            if !f.contents.ends_with('\n') {
                out.push('\n');
            }
        }
        for p in &self.remove {
            let _ = writeln!(out, "# would remove {}", p.display());
        }
        for c in &self.commands {
            let _ = writeln!(out, "# would run: {}", c.join(" "));
        }
        out
    }
}

/// Errors installing or removing the service.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error("the codexpc binary path must be absolute for a service: {0}")]
    RelativeBinary(PathBuf),
    #[error("cannot find the home directory to place the service file in")]
    NoHome,
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Where the unit/plist lives for the current user.
pub fn service_file_path(platform: Platform, home: &Path) -> PathBuf {
    match platform {
        // $XDG_CONFIG_HOME/systemd/user is also read, but ~/.config is the documented default.
        Platform::Systemd => home
            .join(".config/systemd/user")
            .join(format!("{SERVICE_NAME}.service")),
        Platform::Launchd => home
            .join("Library/LaunchAgents")
            .join(format!("{LAUNCHD_LABEL}.plist")),
    }
}

/// Plan an installation.
pub fn plan_install(
    platform: Platform,
    home: &Path,
    spec: &ServiceSpec,
) -> Result<Plan, InstallError> {
    if !spec.binary.is_absolute() {
        return Err(InstallError::RelativeBinary(spec.binary.clone()));
    }
    let path = service_file_path(platform, home);
    let (contents, commands) = match platform {
        Platform::Systemd => (
            systemd_unit(spec),
            vec![
                cmd(&["systemctl", "--user", "daemon-reload"]),
                cmd(&[
                    "systemctl",
                    "--user",
                    "enable",
                    "--now",
                    &format!("{SERVICE_NAME}.service"),
                ]),
            ],
        ),
        Platform::Launchd => (
            launchd_plist(spec),
            vec![cmd(&["launchctl", "load", "-w", &path.to_string_lossy()])],
        ),
    };
    Ok(Plan {
        platform,
        write: vec![PlannedFile { path, contents }],
        remove: vec![],
        commands,
    })
}

/// Plan a removal (stop + disable, then delete the file).
pub fn plan_uninstall(platform: Platform, home: &Path) -> Plan {
    let path = service_file_path(platform, home);
    let commands = match platform {
        Platform::Systemd => vec![
            cmd(&[
                "systemctl",
                "--user",
                "disable",
                "--now",
                &format!("{SERVICE_NAME}.service"),
            ]),
            cmd(&["systemctl", "--user", "daemon-reload"]),
        ],
        Platform::Launchd => vec![cmd(&["launchctl", "unload", "-w", &path.to_string_lossy()])],
    };
    Plan {
        platform,
        write: vec![],
        remove: vec![path],
        commands,
    }
}

fn cmd(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|s| (*s).to_owned()).collect()
}

/// Quote one argument for systemd's `ExecStart=` (which has its own, shell-like, rules).
fn systemd_quote(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-=:,+@".contains(c));
    if plain {
        return arg.to_owned();
    }
    let mut s = String::from("\"");
    for c in arg.chars() {
        match c {
            '"' | '\\' => {
                s.push('\\');
                s.push(c);
            }
            // `%` starts a specifier in unit files.
            '%' => s.push_str("%%"),
            '$' => s.push_str("$$"),
            _ => s.push(c),
        }
    }
    s.push('"');
    s
}

fn systemd_unit(spec: &ServiceSpec) -> String {
    let mut exec = systemd_quote(&spec.binary.to_string_lossy());
    for a in &spec.args {
        exec.push(' ');
        exec.push_str(&systemd_quote(&a.to_string_lossy()));
    }
    let mut unit = String::new();
    unit.push_str(
        "# Written by `codexpc install-service`; remove with `codexpc uninstall-service`.\n",
    );
    unit.push_str("[Unit]\nDescription=codexpc: local gpt-oss for Codex (Responses endpoint + session socket)\n");
    unit.push_str("After=default.target\n\n[Service]\nType=simple\n");
    let _ = writeln!(unit, "ExecStart={exec}");
    for (k, v) in &spec.env {
        let _ = writeln!(unit, "Environment={}", systemd_quote(&format!("{k}={v}")));
    }
    unit.push_str("Restart=on-failure\nRestartSec=2\n# The socket and data live in the user's own dirs; nothing else is needed.\n");
    unit.push_str("NoNewPrivileges=true\n\n[Install]\nWantedBy=default.target\n");
    unit
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn launchd_plist(spec: &ServiceSpec) -> String {
    let mut p = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n\
         <plist version=\"1.0\">\n<dict>\n",
    );
    let _ = writeln!(p, "  <key>Label</key>\n  <string>{LAUNCHD_LABEL}</string>");
    p.push_str("  <key>ProgramArguments</key>\n  <array>\n");
    let _ = writeln!(
        p,
        "    <string>{}</string>",
        xml_escape(&spec.binary.to_string_lossy())
    );
    for a in &spec.args {
        let _ = writeln!(
            p,
            "    <string>{}</string>",
            xml_escape(&a.to_string_lossy())
        );
    }
    p.push_str("  </array>\n");
    if !spec.env.is_empty() {
        p.push_str("  <key>EnvironmentVariables</key>\n  <dict>\n");
        for (k, v) in &spec.env {
            let _ = writeln!(
                p,
                "    <key>{}</key>\n    <string>{}</string>",
                xml_escape(k),
                xml_escape(v)
            );
        }
        p.push_str("  </dict>\n");
    }
    p.push_str("  <key>RunAtLoad</key>\n  <true/>\n  <key>KeepAlive</key>\n  <dict>\n    <key>SuccessfulExit</key>\n    <false/>\n  </dict>\n");
    let log = spec.log_dir.join("codexpc.log");
    let _ = writeln!(
        p,
        "  <key>StandardOutPath</key>\n  <string>{}</string>",
        xml_escape(&log.to_string_lossy())
    );
    let _ = writeln!(
        p,
        "  <key>StandardErrorPath</key>\n  <string>{}</string>",
        xml_escape(&log.to_string_lossy())
    );
    p.push_str("</dict>\n</plist>\n");
    p
}

/// What [`apply`] did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ApplyReport {
    pub written: Vec<PathBuf>,
    pub removed: Vec<PathBuf>,
    /// Commands that ran successfully.
    pub ran: Vec<String>,
    /// Commands that could not run or failed, with the reason; the files are kept.
    pub skipped: Vec<(String, String)>,
}

/// Carry out a plan: write/remove files, then run the service-manager commands. A missing or
/// failing service manager is reported in `skipped`, not an error: the files are in place and
/// the operator can start the service by hand.
pub fn apply(plan: &Plan) -> Result<ApplyReport, InstallError> {
    let mut report = ApplyReport::default();
    for f in &plan.write {
        if let Some(dir) = f.path.parent() {
            std::fs::create_dir_all(dir).map_err(|source| InstallError::Io {
                action: "creating",
                path: dir.to_owned(),
                source,
            })?;
        }
        let tmp = f.path.with_extension("tmp");
        std::fs::write(&tmp, &f.contents)
            .and_then(|()| std::fs::rename(&tmp, &f.path))
            .map_err(|source| InstallError::Io {
                action: "writing",
                path: f.path.clone(),
                source,
            })?;
        report.written.push(f.path.clone());
    }
    // Stop before deleting on uninstall: run commands first when removing.
    let run_all = |report: &mut ApplyReport| {
        for c in &plan.commands {
            let line = c.join(" ");
            match Command::new(&c[0]).args(&c[1..]).output() {
                Ok(out) if out.status.success() => report.ran.push(line),
                Ok(out) => {
                    let err = String::from_utf8_lossy(&out.stderr).trim().to_owned();
                    report
                        .skipped
                        .push((line, format!("exited with {}: {err}", out.status)));
                }
                Err(e) => report.skipped.push((line, e.to_string())),
            }
        }
    };
    run_all(&mut report);
    for p in &plan.remove {
        match std::fs::remove_file(p) {
            Ok(()) => report.removed.push(p.clone()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(InstallError::Io {
                    action: "removing",
                    path: p.clone(),
                    source,
                });
            }
        }
    }
    Ok(report)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn spec() -> ServiceSpec {
        ServiceSpec {
            binary: PathBuf::from("/opt/codexpc/bin/codexpc"),
            args: vec![
                "serve".into(),
                "--model".into(),
                "/models/gpt oss 20b.gguf".into(),
            ],
            env: vec![("RUST_LOG".into(), "info".into())],
            log_dir: PathBuf::from("/Users/me/Library/Logs"),
        }
    }

    #[test]
    fn systemd_dry_run_is_exact() {
        let plan = plan_install(Platform::Systemd, Path::new("/home/me"), &spec()).unwrap();
        let expected = "\
# would write /home/me/.config/systemd/user/codexpc.service
# Written by `codexpc install-service`; remove with `codexpc uninstall-service`.
[Unit]
Description=codexpc: local gpt-oss for Codex (Responses endpoint + session socket)
After=default.target

[Service]
Type=simple
ExecStart=/opt/codexpc/bin/codexpc serve --model \"/models/gpt oss 20b.gguf\"
Environment=RUST_LOG=info
Restart=on-failure
RestartSec=2
# The socket and data live in the user's own dirs; nothing else is needed.
NoNewPrivileges=true

[Install]
WantedBy=default.target
# would run: systemctl --user daemon-reload
# would run: systemctl --user enable --now codexpc.service
";
        assert_eq!(plan.render(), expected);
    }

    #[test]
    fn launchd_plist_escapes_and_lists_args() {
        let mut s = spec();
        s.args.push("a&b<c>".into());
        let plan = plan_install(Platform::Launchd, Path::new("/Users/me"), &s).unwrap();
        let f = &plan.write[0];
        assert_eq!(
            f.path,
            Path::new("/Users/me/Library/LaunchAgents/dev.orbitdock.codexpc.plist")
        );
        assert!(f.contents.contains("    <string>/opt/codexpc/bin/codexpc</string>\n    <string>serve</string>\n    <string>--model</string>\n    <string>/models/gpt oss 20b.gguf</string>\n    <string>a&amp;b&lt;c&gt;</string>\n"), "{}", f.contents);
        assert!(
            f.contents
                .contains("<key>RUST_LOG</key>\n    <string>info</string>")
        );
        assert_eq!(
            plan.commands,
            vec![cmd(&[
                "launchctl",
                "load",
                "-w",
                "/Users/me/Library/LaunchAgents/dev.orbitdock.codexpc.plist"
            ])]
        );
    }

    #[test]
    fn relative_binary_rejected() {
        let mut s = spec();
        s.binary = PathBuf::from("codexpc");
        let err = plan_install(Platform::Systemd, Path::new("/h"), &s).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the codexpc binary path must be absolute for a service: codexpc"
        );
    }

    #[test]
    fn systemd_quoting() {
        assert_eq!(systemd_quote("/a/b.gguf"), "/a/b.gguf");
        assert_eq!(systemd_quote("100%"), "\"100%%\"");
        assert_eq!(systemd_quote("$HOME"), "\"$$HOME\"");
        assert_eq!(systemd_quote("a\"b"), "\"a\\\"b\"");
        assert_eq!(systemd_quote(""), "\"\"");
    }

    #[test]
    fn uninstall_plan() {
        let plan = plan_uninstall(Platform::Systemd, Path::new("/home/me"));
        assert_eq!(
            plan.render(),
            "# would remove /home/me/.config/systemd/user/codexpc.service\n\
             # would run: systemctl --user disable --now codexpc.service\n\
             # would run: systemctl --user daemon-reload\n"
        );
    }

    #[test]
    fn apply_writes_and_removes_files_in_a_temp_home() {
        let home = tempfile::tempdir().unwrap();
        // Commands that cannot exist: apply must keep the file and report them as skipped.
        let mut plan = plan_install(Platform::Systemd, home.path(), &spec()).unwrap();
        plan.commands = vec![cmd(&["/nonexistent/systemctl", "--user", "daemon-reload"])];
        let report = apply(&plan).unwrap();
        let unit = service_file_path(Platform::Systemd, home.path());
        assert_eq!(report.written, vec![unit.clone()]);
        assert_eq!(
            std::fs::read_to_string(&unit).unwrap(),
            plan.write[0].contents
        );
        assert_eq!(report.skipped.len(), 1);
        let mut un = plan_uninstall(Platform::Systemd, home.path());
        un.commands.clear();
        let report = apply(&un).unwrap();
        assert_eq!(report.removed, vec![unit.clone()]);
        assert!(!unit.exists());
    }
}
