//! The data dir's key files: `keys.seal` (the key that seals stored secrets) and
//! `credentials` (the root key as an AWS shared-credentials file, profile `[versa]`).
//! Both are created with mode 0600, written to a temporary file, fsynced and renamed.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::Context;
use control::keys::{Keys, SEAL_KEY_BYTES, new_seal_key};
use store::Store;

/// The file holding the key that seals secrets in the store.
pub const SEAL_FILE: &str = "keys.seal";
/// The shared-credentials file with the root key.
pub const CREDENTIALS_FILE: &str = "credentials";
/// The profile the credentials file defines.
pub const PROFILE: &str = "versa";
/// Largest credentials file read (`versa keys` reads it to talk to a server).
const CREDENTIALS_FILE_BYTES_MAX: u64 = 64 * 1024;
/// Largest AWS config or shared-credentials file `versa credentials` rewrites (organisations
/// with many SSO profiles have large ones).
const AWS_FILE_BYTES_MAX: u64 = 4 * 1024 * 1024;

/// Where a data dir's credentials file is.
pub fn credentials_path(dir: &Path) -> PathBuf {
    dir.join(CREDENTIALS_FILE)
}

/// The cluster setting holding the sealing key when nodes share the store.
pub const SEAL_SETTING: &str = "keys_seal";

/// Opens the keys of the data dir `dir`, creating its sealing key on first use. Nodes sharing
/// a store (PostgreSQL) share one sealing key, in its `cluster_settings` (the first node's).
pub async fn open_keys(dir: &Path, store: Store) -> anyhow::Result<Keys> {
    let seal = if store.shared() {
        let value = cluster::shared_key(&store, SEAL_SETTING)
            .await
            .map_err(|e| anyhow::anyhow!("cannot read the shared seal key: {e}"))?;
        <[u8; SEAL_KEY_BYTES]>::try_from(value.as_slice())
            .map_err(|_| anyhow::anyhow!("the cluster setting {SEAL_SETTING} is not {SEAL_KEY_BYTES} bytes"))?
    } else {
        seal_key(dir)?
    };
    Keys::open(store, seal).await.map_err(|e| anyhow::anyhow!("cannot open the access keys: {e}"))
}

fn seal_key(dir: &Path) -> anyhow::Result<[u8; SEAL_KEY_BYTES]> {
    let path = dir.join(SEAL_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => stdx::hex::decode(text.trim())
            .and_then(|b| <[u8; SEAL_KEY_BYTES]>::try_from(b).ok())
            .with_context(|| format!("{} is not {SEAL_KEY_BYTES} bytes of hex", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = new_seal_key();
            write_private(&path, &format!("{}\n", stdx::hex::encode(&key)))?;
            Ok(key)
        }
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// Writes the root key into `<dir>/credentials` when `replace` is set or the file is missing.
pub fn write_file_unless_present(dir: &Path, keys: &Keys, replace: bool) -> anyhow::Result<()> {
    let path = credentials_path(dir);
    if !replace && path.exists() {
        return Ok(());
    }
    let Some((id, secret)) = keys.root_key() else { return Ok(()) };
    write_private(&path, &file_text(&id, &secret))
}

/// The shared-credentials file's text for one key.
pub fn file_text(access_key_id: &str, secret: &str) -> String {
    format!("[{PROFILE}]\naws_access_key_id = {access_key_id}\naws_secret_access_key = {secret}\n")
}

/// Reads the `[versa]` profile's key from a shared-credentials file.
pub fn read_file(path: &Path) -> anyhow::Result<(String, String)> {
    read_profile(path, PROFILE).map(|k| (k.access_key_id, k.secret))
}

/// A key read from a shared-credentials file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileKey {
    pub access_key_id: String,
    pub secret: String,
    pub session_token: Option<String>,
}

/// Reads a profile's key (and session token, if any) from a shared-credentials file.
pub fn read_profile(path: &Path, profile: &str) -> anyhow::Result<ProfileKey> {
    let meta = std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    anyhow::ensure!(meta.len() <= CREDENTIALS_FILE_BYTES_MAX, "{} is too large", path.display());
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let (mut id, mut secret, mut token, mut in_profile) = (None, None, None, false);
    for line in text.lines().map(str::trim) {
        if let Some(section) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            in_profile = section.trim() == profile;
        } else if in_profile && let Some((k, v)) = line.split_once('=') {
            match k.trim() {
                "aws_access_key_id" => id = Some(v.trim().to_owned()),
                "aws_secret_access_key" => secret = Some(v.trim().to_owned()),
                "aws_session_token" => token = Some(v.trim().to_owned()),
                _ => {}
            }
        }
    }
    match (id, secret) {
        (Some(access_key_id), Some(secret)) => Ok(ProfileKey { access_key_id, secret, session_token: token }),
        _ => anyhow::bail!("{} has no [{profile}] profile with a key and secret", path.display()),
    }
}

/// `text` with the INI section `[header]` replaced by `lines` (added at the end when absent);
/// every other line stays as it was.
pub fn with_section(text: &str, header: &str, lines: &[String]) -> String {
    let mut out = String::with_capacity(text.len() + 256);
    let mut section = format!("[{header}]\n");
    for l in lines {
        section.push_str(l);
        section.push('\n');
    }
    let (mut placed, mut skipping) = (false, false);
    for line in text.lines() {
        let trimmed = line.trim();
        if let Some(name) = trimmed.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            skipping = name.trim() == header;
            if skipping && !placed {
                out.push_str(&section);
                placed = true;
            }
        }
        if !skipping {
            out.push_str(line);
            out.push('\n');
        }
    }
    if !placed {
        if !out.is_empty() && !out.ends_with("\n\n") {
            out.push('\n');
        }
        out.push_str(&section);
    }
    out
}

/// What `versa credentials` writes: the AWS config file's profile (`region`, `endpoint_url`,
/// which botocore and the AWS SDKs read, so no `--endpoint-url` is needed) and the
/// shared-credentials file's key, each replacing that profile only. Both files are 0600.
pub struct Profile<'a> {
    pub name: &'a str,
    pub region: &'a str,
    pub endpoint_url: &'a str,
    pub access_key_id: &'a str,
    pub secret: &'a str,
}

impl Profile<'_> {
    pub fn write(&self, config_file: &Path, credentials_file: &Path) -> anyhow::Result<()> {
        let config_header =
            if self.name == "default" { "default".to_owned() } else { format!("profile {}", self.name) };
        let config = [format!("region = {}", self.region), format!("endpoint_url = {}", self.endpoint_url)];
        let key =
            [format!("aws_access_key_id = {}", self.access_key_id), format!("aws_secret_access_key = {}", self.secret)];
        for (path, header, lines) in
            [(config_file, config_header.as_str(), &config[..]), (credentials_file, self.name, &key[..])]
        {
            let old = match std::fs::read_to_string(path) {
                Ok(t) => t,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
                Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
            };
            anyhow::ensure!(old.len() as u64 <= AWS_FILE_BYTES_MAX, "{} is too large", path.display());
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
            }
            write_private(path, &with_section(&old, header, lines))?;
        }
        Ok(())
    }
}

/// Writes `text` to `path` with mode 0600: a new temporary file (a leftover one, or a link in
/// its place, is removed first, so neither its mode nor its target is inherited), fsync,
/// rename, fsync of the dir.
fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    match std::fs::remove_file(&tmp) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(e).with_context(|| format!("cannot remove {}", tmp.display()));
        }
        _ => {}
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_section_is_replaced_in_place_and_the_rest_kept() {
        let lines = ["region = us-east-1".to_owned(), "endpoint_url = http://x".to_owned()];
        assert_eq!(
            with_section("", "profile versa", &lines),
            "[profile versa]\nregion = us-east-1\nendpoint_url = http://x\n"
        );
        let text = "[default]\nregion = eu-west-1\n\n[profile versa]\nregion = old\noutput = json\n[profile other]\nregion = b\n";
        assert_eq!(
            with_section(text, "profile versa", &lines),
            "[default]\nregion = eu-west-1\n\n[profile versa]\nregion = us-east-1\nendpoint_url = http://x\n[profile other]\nregion = b\n"
        );
        assert_eq!(
            with_section("[default]\nregion = a", "profile versa", &lines),
            "[default]\nregion = a\n\n[profile versa]\nregion = us-east-1\nendpoint_url = http://x\n"
        );
    }

    #[test]
    fn the_credentials_file_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("credentials");
        // A leftover temporary file with a loose mode does not lend it to the written file.
        std::fs::write(path.with_extension("tmp"), "stale").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path.with_extension("tmp"), std::fs::Permissions::from_mode(0o644)).unwrap();
        write_private(&path, &format!("[default]\naws_access_key_id = X\n\n{}", file_text("VKIAABC", "s/e+c")))
            .unwrap();
        assert_eq!(read_file(&path).unwrap(), ("VKIAABC".to_owned(), "s/e+c".to_owned()));
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let other = read_profile(&path, "default");
        assert!(other.is_err(), "no secret: {other:?}");
        write_private(&path, "[default]\naws_access_key_id = X\naws_secret_access_key = Y\naws_session_token = T\n")
            .unwrap();
        assert!(read_file(&path).is_err());
        let key = read_profile(&path, "default").unwrap();
        assert_eq!((key.access_key_id.as_str(), key.session_token.as_deref()), ("X", Some("T")));
    }
}
