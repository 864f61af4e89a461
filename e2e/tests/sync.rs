//! `podctl sync` on the real test host, from bare repositories the test makes under /srv:
//! each commit becomes a checkout the manifests link is swapped to, which the controller
//! applies by itself; a bad URL, a broken checkout and an unsigned commit leave the link as
//! it was.

use std::time::Duration;

use anyhow::{Result, ensure};
use podctl_e2e::{ExecOutput, TestHost, controller, wait_until};

fn container(name: &str) -> String {
    format!(
        "apiVersion: podctl.io/v1\nkind: Container\nmetadata: {{name: {name}}}\nspec:\n  image: localhost/bb:v1\n  network: none\n  args: [sleep, infinity]\n  stopTimeout: 2s\n"
    )
}

/// A work tree `src` with an SSH signing key, pushed to the bare `fleet.git` beside it.
struct Repo {
    base: String,
}

impl Repo {
    fn src(&self) -> String {
        format!("{}/src", self.base)
    }

    fn url(&self) -> String {
        format!("file://{}/fleet.git", self.base)
    }

    fn link(&self) -> String {
        format!("{}/manifests", self.base)
    }

    async fn git(&self, host: &TestHost, args: &str) -> Result<ExecOutput> {
        host.sh(&format!(
            "set -e; cd {}; git -c user.email=e2e@podctl.test -c user.name=e2e -c gpg.format=ssh -c user.signingkey={}/key.pub {args}",
            self.src(),
            self.base
        ))
        .await?
        .ok()
    }

    /// Writes `file` and commits it (signed with `-S`), pushes, returns the commit.
    async fn commit(&self, host: &TestHost, file: &str, text: &str, sign: bool) -> Result<String> {
        host.write_file(format!("{}/{file}", self.src()), text)?;
        let s = if sign { "-S" } else { "" };
        self.git(host, "add -A").await?;
        self.git(host, &format!("commit -q {s} -m {file}")).await?;
        self.git(host, "push -q origin HEAD:main").await?;
        Ok(self
            .git(host, "rev-parse HEAD")
            .await?
            .stdout
            .trim()
            .to_owned())
    }

    async fn sync(&self, host: &TestHost, extra: &[&str]) -> Result<ExecOutput> {
        let state = format!("{}/state", self.base);
        let link = self.link();
        let url = self.url();
        let mut args = vec![
            "sync",
            "--repo",
            &url,
            "--branch",
            "main",
            "--dest",
            &link,
            "--state-dir",
            &state,
        ];
        args.extend_from_slice(extra);
        let out = host.podctl(&args).await?;
        eprintln!("podctl {}:\n{}{}", args.join(" "), out.stdout, out.stderr);
        Ok(out)
    }

    /// The commit the manifests link points at.
    async fn linked(&self, host: &TestHost) -> Result<String> {
        let out = host.exec_ok(["readlink", &self.link()]).await?;
        Ok(out
            .stdout
            .trim()
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_owned())
    }
}

async fn active(host: &TestHost, unit: &str) -> Result<()> {
    wait_until(Duration::from_secs(60), unit, || async {
        let up = host
            .exec(["systemctl", "is-active", "--quiet", unit])
            .await?
            .success();
        Ok(up.then_some(()))
    })
    .await
}

#[tokio::test]
async fn sync_should_swap_the_link_per_commit_and_keep_it_on_every_failure() -> Result<()> {
    let Some(host) =
        TestHost::require("sync_should_swap_the_link_per_commit_and_keep_it_on_every_failure")
            .await
    else {
        return Ok(());
    };
    let _turn = host.apply_turn().await?;
    let repo = Repo {
        base: format!("/srv/{}", host.unique_name("sync")),
    };
    let (a, b) = (host.unique_name("sync-a"), host.unique_name("sync-b"));
    host.sh(&format!(
        "set -e; mkdir -p {base}/src; git init -q -b main {base}/src; git init -q --bare -b main {base}/fleet.git; \
         git -C {base}/src remote add origin {base}/fleet.git; \
         ssh-keygen -q -t ed25519 -N '' -C e2e -f {base}/key; \
         echo \"e2e@podctl.test $(cat {base}/key.pub)\" > {base}/allowed_signers",
        base = repo.base
    ))
    .await?
    .ok()?;
    let first = repo.commit(&host, "a.yaml", &container(&a), true).await?;
    let out = repo.sync(&host, &[]).await?;
    ensure!(out.success() && out.stdout.contains(&first), "first sync");
    ensure!(repo.linked(&host).await? == first);

    let result = async {
        controller::start(&host, &repo.link(), "", "").await?;
        active(&host, &format!("{a}.service")).await?;
        let get = host.podctl(["get", "-f", &repo.link()]).await?;
        ensure!(get.stdout.contains(&first[..12]), "get: {}", get.stdout);

        // A second commit: swapped, and the controller applies it by itself.
        let second = repo.commit(&host, "b.yaml", &container(&b), true).await?;
        ensure!(repo.sync(&host, &[]).await?.success());
        ensure!(repo.linked(&host).await? == second);
        active(&host, &format!("{b}.service")).await?;
        let up_to_date = repo.sync(&host, &[]).await?;
        ensure!(up_to_date.success() && up_to_date.stdout.contains("up to date"));

        // A bad URL: exit 2, the link stays.
        let state = format!("{}/state", repo.base);
        let bad = host
            .podctl([
                "sync",
                "--repo",
                "file:///srv/no-such-repo.git",
                "--dest",
                &repo.link(),
                "--state-dir",
                &state,
            ])
            .await?;
        ensure!(
            bad.status.code() == Some(2) && bad.stderr.contains("cannot fetch"),
            "{}",
            bad.stderr
        );
        ensure!(repo.linked(&host).await? == second);

        // An unsigned commit with verification on: refused, the link stays.
        let signers = format!("{}/allowed_signers", repo.base);
        let unsigned = repo.commit(&host, "c.yaml", "# unsigned\n", false).await?;
        let refused = repo.sync(&host, &["--allowed-signers", &signers]).await?;
        ensure!(
            refused.status.code() == Some(2) && refused.stderr.contains("not signed"),
            "{}",
            refused.stderr
        );
        ensure!(repo.linked(&host).await? == second);

        // A checkout that cannot be written (its place is taken by a file): the link stays.
        host.write_file(format!("{state}/sync/{unsigned}"), "in the way")?;
        let broken = repo.sync(&host, &[]).await?;
        ensure!(broken.status.code() == Some(2), "{}", broken.stderr);
        ensure!(repo.linked(&host).await? == second);
        host.exec_ok(["rm", &format!("{state}/sync/{unsigned}")])
            .await?;

        // A signed commit passes verification.
        let signed = repo.commit(&host, "d.yaml", "# signed\n", true).await?;
        ensure!(
            repo.sync(&host, &["--allowed-signers", &signers])
                .await?
                .success()
        );
        ensure!(repo.linked(&host).await? == signed);

        // --path: the manifests in a directory of the repository, a link in it refused.
        host.sh(&format!(
            "set -e; cd {}; mkdir sub; ln -s /etc evil",
            repo.src()
        ))
        .await?
        .ok()?;
        repo.git(&host, "mv a.yaml b.yaml sub/").await?;
        repo.git(&host, "add evil").await?;
        repo.git(&host, "commit -q -m sub").await?;
        repo.git(&host, "push -q origin HEAD:main").await?;
        let evil = repo.sync(&host, &["--path", "evil"]).await?;
        ensure!(evil.status.code() == Some(2), "{}", evil.stderr);
        ensure!(repo.sync(&host, &["--path", "sub"]).await?.success());
        let target = host.exec_ok(["readlink", &repo.link()]).await?;
        ensure!(target.stdout.trim().ends_with("/sub"), "{}", target.stdout);
        let valid = host.podctl(["validate", "-f", &repo.link()]).await?;
        ensure!(
            valid.success() && valid.stdout.contains("2 objects"),
            "{}",
            valid.stdout
        );
        Ok(())
    }
    .await;
    controller::finish(&host, result).await
}
