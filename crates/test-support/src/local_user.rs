//! A second local user for tests that check what another account on the machine can reach
//! (sockets, token files, ports).

use std::process::Command;

/// The (uid, gid) of the local user `name`, created with `useradd` (a system account without a
/// home or a login shell) when missing. `Err` says why there is none: not running as root,
/// `useradd` missing or failing. Callers skip with that reason printed.
pub fn second_local_user(name: &str) -> Result<(u32, u32), String> {
    if !nix::unistd::geteuid().is_root() {
        return Err("not running as root: cannot create a second local user".into());
    }
    let lookup = || nix::unistd::User::from_name(name).ok().flatten();
    if lookup().is_none() {
        let out = Command::new("useradd")
            .args([
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                name,
            ])
            .output()
            .map_err(|e| format!("useradd not available: {e}"))?;
        // Exit 9: created meanwhile by a concurrent run.
        if !out.status.success() && out.status.code() != Some(9) {
            return Err(format!(
                "useradd failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    lookup()
        .map(|u| (u.uid.as_raw(), u.gid.as_raw()))
        .ok_or_else(|| format!("the user {name} does not exist after useradd"))
}
