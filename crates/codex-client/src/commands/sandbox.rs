//! `codex sandbox [OPTIONS] -- COMMAND...`: run a command under Codex's own sandbox.
//!
//! How 0.169 does it on Linux (checked by running `readlink /proc/self/ns/*` and reading
//! `/proc/self/status` inside): it re-executes its `codex-linux-sandbox` helper, which puts the
//! command in new user, mount and network namespaces (bubblewrap's technique; Debian's
//! `bubblewrap` package silences a warning) with the filesystem policy bind-mounted read-only
//! except the writable roots, then installs a seccomp filter (`Seccomp: 2`, `NoNewPrivs: 1`) and
//! execs the command. The network namespace is empty: even loopback is unreachable.
//!
//! Policies are permission profiles (`-P`): the built-in `:read-only` (the default without
//! `-P`), `:workspace` (the working directory, `/tmp` and `$TMPDIR` writable; `.git` read-only)
//! and `:danger-full-access`, or a `[permissions.NAME]` table of the config. `-C DIR` is only
//! accepted together with `-P`. The exit status is the command's.

use std::ffi::OsString;
use std::path::PathBuf;

use super::{CliCommand, CliOptions, CliOutput, cli_options};
use crate::binary::CodexBinary;
use crate::home::CodexHome;
use crate::{Error, Result};

/// A permissions profile for `codex sandbox -P`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PermissionProfile {
    /// `:read-only`: nothing writable (the default without `-P`).
    ReadOnly,
    /// `:workspace`: the working directory and temp dirs writable, no network.
    Workspace,
    /// `:danger-full-access`: no restrictions.
    DangerFullAccess,
    /// A `[permissions.NAME]` profile from the config.
    Named(String),
}

impl PermissionProfile {
    /// The value for `-P`.
    pub fn as_arg(&self) -> &str {
        match self {
            PermissionProfile::ReadOnly => ":read-only",
            PermissionProfile::Workspace => ":workspace",
            PermissionProfile::DangerFullAccess => ":danger-full-access",
            PermissionProfile::Named(n) => n,
        }
    }
}

/// `codex sandbox`.
#[derive(Debug, Clone)]
pub struct Sandbox {
    binary: CodexBinary,
    home: CodexHome,
    command: Vec<OsString>,
    permission_profile: Option<PermissionProfile>,
    cd: Option<PathBuf>,
    config_profile: Option<String>,
    include_managed_config: bool,
    state_json: Option<String>,
    state_readable_roots: Vec<PathBuf>,
    state_disable_network: bool,
    transparent_tcp: bool,
    options: CliOptions,
}

cli_options!(Sandbox);

impl Sandbox {
    /// Runs `command` (program and arguments) in the sandbox.
    pub fn new<I, S>(binary: &CodexBinary, home: &CodexHome, command: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        Sandbox {
            binary: binary.clone(),
            home: home.clone(),
            command: command.into_iter().map(Into::into).collect(),
            permission_profile: None,
            cd: None,
            config_profile: None,
            include_managed_config: false,
            state_json: None,
            state_readable_roots: Vec::new(),
            state_disable_network: false,
            transparent_tcp: false,
            options: CliOptions::default(),
        }
    }

    /// `-P`: the permissions profile.
    pub fn permission_profile(mut self, profile: PermissionProfile) -> Self {
        self.permission_profile = Some(profile);
        self
    }

    /// `-C`: working directory for profile resolution and the command (needs a profile).
    pub fn cd(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cd = Some(dir.into());
        self
    }

    /// `-p`: layer `$CODEX_HOME/<name>.config.toml`.
    pub fn config_profile(mut self, name: impl Into<String>) -> Self {
        self.config_profile = Some(name.into());
        self
    }

    /// `--include-managed-config`.
    pub fn include_managed_config(mut self, yes: bool) -> Self {
        self.include_managed_config = yes;
        self
    }

    /// `--sandbox-state-json`: an opaque state from `codex/sandbox-state`, applied directly.
    pub fn sandbox_state_json(mut self, json: impl Into<String>) -> Self {
        self.state_json = Some(json.into());
        self
    }

    /// `--sandbox-state-readable-root` (repeatable; with a sandbox state).
    pub fn sandbox_state_readable_root(mut self, dir: impl Into<PathBuf>) -> Self {
        self.state_readable_roots.push(dir.into());
        self
    }

    /// `--sandbox-state-disable-network` (with a sandbox state).
    pub fn sandbox_state_disable_network(mut self, yes: bool) -> Self {
        self.state_disable_network = yes;
        self
    }

    /// `--transparent-tcp`: route outbound TCP through the managed SOCKS proxy. New in 0.171;
    /// refused by the capability guard on 0.169.
    pub fn transparent_tcp(mut self, yes: bool) -> Self {
        self.transparent_tcp = yes;
        self
    }

    /// The invocation.
    pub fn command(&self) -> Result<CliCommand> {
        if self.command.is_empty() {
            return Err(Error::InvalidInvocation(
                "codex sandbox needs a command to run".into(),
            ));
        }
        if self.cd.is_some() && self.permission_profile.is_none() {
            return Err(Error::InvalidInvocation(
                "codex sandbox accepts -C only together with a permission profile (-P)".into(),
            ));
        }
        let mut c = CliCommand::new(&self.binary, &self.home, &["sandbox"])
            .with_options(self.options.clone())
            .flag_opt(
                "--permission-profile",
                self.permission_profile
                    .as_ref()
                    .map(PermissionProfile::as_arg),
            )
            .flag_opt("--cd", self.cd.clone())
            .flag_opt("--profile", self.config_profile.clone())
            .flag_if(self.include_managed_config, "--include-managed-config")
            .flag_opt("--sandbox-state-json", self.state_json.clone())
            .flag_if(
                self.state_disable_network,
                "--sandbox-state-disable-network",
            )
            .flag_if(self.transparent_tcp, "--transparent-tcp");
        for root in &self.state_readable_roots {
            c = c.flag_value("--sandbox-state-readable-root", root);
        }
        c = c.arg("--");
        for a in &self.command {
            c = c.arg(a);
        }
        Ok(c)
    }

    /// Runs; the status is the sandboxed command's.
    pub async fn output(self) -> Result<CliOutput> {
        self.command()?.output().await
    }
}
