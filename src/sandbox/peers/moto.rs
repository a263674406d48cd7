//! A moto server on a free loopback port, stopped when dropped.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;

pub const OWN_ACCOUNT: &str = "123456789012";

/// moto behind the IAM emulator: `url` is the emulator's, which answers what moto lacks and
/// hands everything else to moto.
pub struct Moto {
    _child: Process,
    pub url: String,
    pub iam: super::iam::IamFront,
}

/// moto's process, killed and reaped when dropped, whichever way its owner ends.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Why moto could not be started.
#[derive(Debug, thiserror::Error)]
pub enum MotoError {
    #[error("moto server not found at {0} (run .ci/setup, or set KEYLEAK_MOTO_SERVER)")]
    Missing(PathBuf),
    #[error("moto server did not start: {0}")]
    Spawn(#[source] std::io::Error),
    #[error("moto did not say where it listens within 30 s")]
    NoPort,
    #[error("moto did not answer within 30 s")]
    NoAnswer,
}

/// The moto server `.ci/setup` (or `keyleak sandbox`) installs in `.venv`, or the one
/// `KEYLEAK_MOTO_SERVER` names.
pub fn binary() -> PathBuf {
    match std::env::var_os("KEYLEAK_MOTO_SERVER") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(".venv/bin/moto_server"),
    }
}

/// The port moto bound, from the line Werkzeug prints once it listens. moto picks it (port
/// 0): a port chosen here and bound later could be taken meanwhile by another server, and
/// two users would share one moto.
fn bound_port(stderr: std::process::ChildStderr) -> std::sync::mpsc::Receiver<u16> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead as _;
        // Read to the end, so that moto never blocks on a full pipe.
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if let Some(port) = line
                .split("Running on http://127.0.0.1:")
                .nth(1)
                .and_then(|p| p.trim().parse().ok())
            {
                let _ = tx.send(port);
            }
        }
    });
    rx
}

impl Moto {
    pub async fn start() -> Result<Self, MotoError> {
        Self::launch(false).await
    }

    /// With AWS's managed policies (`AdministratorAccess`, …) loaded in every account: slower
    /// to start an account, so only for those that attach them.
    pub async fn with_aws_policies() -> Result<Self, MotoError> {
        Self::launch(true).await
    }

    async fn launch(aws_policies: bool) -> Result<Self, MotoError> {
        let bin = binary();
        if !bin.exists() {
            return Err(MotoError::Missing(bin));
        }
        let child = Command::new(&bin)
            .args(["-H", "127.0.0.1", "-p", "0"])
            .env(
                "MOTO_IAM_LOAD_MANAGED_POLICIES",
                if aws_policies { "true" } else { "false" },
            )
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(MotoError::Spawn)?;
        let mut child = Process(child);
        let stderr = child.0.stderr.take().ok_or(MotoError::NoPort)?;
        let ports = bound_port(stderr);
        let port = tokio::task::spawn_blocking(move || ports.recv_timeout(Duration::from_secs(30)))
            .await
            .ok()
            .and_then(Result::ok);
        let port = port.ok_or(MotoError::NoPort)?;
        let iam = super::iam::IamFront::start(&format!("http://127.0.0.1:{port}"))
            .map_err(MotoError::Spawn)?;
        let moto = Self {
            _child: child,
            url: iam.url.clone(),
            iam,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        let http = super::http().map_err(MotoError::Spawn)?;
        loop {
            if http
                .get(format!("{}/moto-api/", moto.url))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return Ok(moto);
            }
            if Instant::now() > deadline {
                return Err(MotoError::NoAnswer);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// SDK configuration pointing at this moto with the given credentials.
    pub async fn config(&self, access_key: &str, secret: &str, token: Option<&str>) -> SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .endpoint_url(&self.url)
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new(
                access_key,
                secret,
                token.map(str::to_string),
                None,
                "test",
            ))
            .load()
            .await
    }

    /// Configuration acting inside `account`, through credentials moto binds to it (an
    /// assumed role there): how tests seed other accounts.
    pub async fn config_in(&self, account: &str) -> anyhow::Result<SdkConfig> {
        let c = self
            .assume(&format!("arn:aws:iam::{account}:role/Seed"))
            .await?;
        Ok(self
            .config(
                &c.access_key_id,
                &c.secret_access_key,
                Some(&c.session_token),
            )
            .await)
    }

    /// Temporary (`ASIA…`) credentials for the role, minted by the bot's own account.
    pub async fn assume(&self, role_arn: &str) -> anyhow::Result<aws_sdk_sts::types::Credentials> {
        aws_sdk_sts::Client::new(&self.own_config().await)
            .assume_role()
            .role_arn(role_arn)
            .role_session_name("seed")
            .send()
            .await?
            .credentials
            .ok_or_else(|| anyhow::anyhow!("AssumeRole answered without credentials"))
    }

    /// Ambient credentials of the bot's own account (moto maps unknown keys to it).
    pub async fn own_config(&self) -> SdkConfig {
        self.config("AKIAKEYLEAKTESTADMIN", "test-secret", None)
            .await
    }

    /// Turns on moto's signature and policy checks from the next request on.
    pub async fn enforce_auth(&self) -> anyhow::Result<()> {
        super::http()?
            .post(format!("{}/moto-api/reset-auth", self.url))
            .body("0")
            .send()
            .await?
            .error_for_status()?;
        Ok(())
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.iam.stop();
    }
}
