//! An `sshd` of the test's own on loopback (Debian's openssh-server, which the test set-up
//! installs): generated host and user keys and a private config, run in the foreground as the
//! current user, killed on drop. Tests reach it with `ssh -p PORT USER@127.0.0.1` plus
//! [`Sshd::options`], so nothing of the machine's own SSH set-up (keys, known hosts) is used
//! or changed.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// How long sshd may take to listen.
const READY: Duration = Duration::from_secs(30);

/// A running `sshd -D` on `127.0.0.1:PORT`.
#[derive(Debug)]
pub struct Sshd {
    child: tokio::process::Child,
    port: u16,
    dir: tempfile::TempDir,
}

fn run(cmd: &mut std::process::Command, what: &str) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Sshd {
    /// Generates the keys and config and starts sshd; returns once it accepts connections.
    pub async fn start() -> Sshd {
        let dir = tempfile::tempdir().expect("temp dir for sshd");
        let d = dir.path();
        for key in ["host_key", "user_key"] {
            run(
                std::process::Command::new("ssh-keygen")
                    .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                    .arg(d.join(key)),
                "ssh-keygen",
            );
        }
        std::fs::copy(d.join("user_key.pub"), d.join("authorized_keys"))
            .expect("write authorized_keys");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let user = current_user();
        std::fs::write(
            d.join("sshd_config"),
            format!(
                "ListenAddress 127.0.0.1:{port}\nHostKey {hk}\nAuthorizedKeysFile {ak}\n\
                 PidFile none\nUsePAM no\nStrictModes no\nPasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n\
                 AllowUsers {user}\n",
                hk = d.join("host_key").display(),
                ak = d.join("authorized_keys").display(),
            ),
        )
        .expect("write sshd_config");
        // sshd refuses to start without its privilege separation directory (created by the
        // service unit, which never ran here).
        let _ = std::fs::create_dir_all("/run/sshd");
        let child = tokio::process::Command::new("/usr/sbin/sshd")
            .args(["-D", "-e", "-f"])
            .arg(d.join("sshd_config"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect(
                "starting /usr/sbin/sshd (Debian's openssh-server; scripts/setup.sh test installs it)",
            );
        let deadline = Instant::now() + READY;
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(Instant::now() < deadline, "sshd did not listen on {port}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Sshd { child, port, dir }
    }

    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `ssh://USER@127.0.0.1:PORT` for the current user.
    pub fn url(&self) -> String {
        format!("ssh://{}@127.0.0.1:{}", current_user(), self.port)
    }

    /// `ssh -o` options that make ssh use this server's user key and a private known_hosts.
    pub fn options(&self) -> Vec<String> {
        let d: &Path = self.dir.path();
        vec![
            format!("IdentityFile={}", d.join("user_key").display()),
            "IdentitiesOnly=yes".into(),
            format!("UserKnownHostsFile={}", d.join("known_hosts").display()),
            "StrictHostKeyChecking=accept-new".into(),
        ]
    }

    /// Stops it.
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// The login name of the current user.
pub fn current_user() -> String {
    let out = std::process::Command::new("id")
        .arg("-un")
        .output()
        .expect("run id -un");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}
