//! The AWS calls of the AKIA containment playbook made without keyleak, as baselines for the
//! benchmarks: one after another as a runbook script makes them, and the critical path (the
//! calls that cannot overlap, each group at once).

use keyleak::domain::ids::IncidentId;
use keyleak::domain::policy;

/// The same AWS calls as the playbook, one after another.
pub async fn plain_script(
    iam: &aws_sdk_iam::Client,
    sts: &aws_sdk_sts::Client,
    user: &str,
    key: &str,
) {
    owner_of(iam, sts, key).await;
    iam.get_user().user_name(user).send().await.unwrap();
    iam.list_access_keys().user_name(user).send().await.unwrap();
    iam.list_user_policies()
        .user_name(user)
        .send()
        .await
        .unwrap();
    iam.list_attached_user_policies()
        .user_name(user)
        .send()
        .await
        .unwrap();
    iam.list_groups_for_user()
        .user_name(user)
        .send()
        .await
        .unwrap();
    let _ = iam.get_login_profile().user_name(user).send().await;
    iam.list_mfa_devices().user_name(user).send().await.unwrap();
    deactivate(iam, user, key).await;
    let [deny_all, fence] = denies();
    put(iam, user, deny_all).await;
    put(iam, user, fence).await;
}

/// The floor no implementation can beat: where the key lives, then whose it is (IAM names the
/// user only from the key), then the snapshot's reads together (it must precede any change),
/// then the three changes together.
pub async fn critical_path(
    iam: &aws_sdk_iam::Client,
    sts: &aws_sdk_sts::Client,
    user: &str,
    key: &str,
) {
    owner_of(iam, sts, key).await;
    let (u, k, p, a, g, _, m) = tokio::join!(
        iam.get_user().user_name(user).send(),
        iam.list_access_keys().user_name(user).send(),
        iam.list_user_policies().user_name(user).send(),
        iam.list_attached_user_policies().user_name(user).send(),
        iam.list_groups_for_user().user_name(user).send(),
        iam.get_login_profile().user_name(user).send(),
        iam.list_mfa_devices().user_name(user).send(),
    );
    for done in [
        u.is_ok(),
        k.is_ok(),
        p.is_ok(),
        a.is_ok(),
        g.is_ok(),
        m.is_ok(),
    ] {
        assert!(done, "the snapshot's reads");
    }
    let [deny_all, fence] = denies();
    tokio::join!(
        deactivate(iam, user, key),
        put(iam, user, deny_all),
        put(iam, user, fence)
    );
}

/// Where the key lives, then whose it is: one after the other, since only the key's
/// account can name its user.
async fn owner_of(iam: &aws_sdk_iam::Client, sts: &aws_sdk_sts::Client, key: &str) {
    sts.get_access_key_info()
        .access_key_id(key)
        .send()
        .await
        .unwrap();
    iam.get_access_key_last_used()
        .access_key_id(key)
        .send()
        .await
        .unwrap();
}

fn denies() -> [policy::DenyPolicy; 2] {
    let id = IncidentId::from_random(0);
    [
        policy::deny_all(&id),
        policy::session_fence(&id, chrono::Utc::now()),
    ]
}

async fn deactivate(iam: &aws_sdk_iam::Client, user: &str, key: &str) {
    iam.update_access_key()
        .user_name(user)
        .access_key_id(key)
        .status(aws_sdk_iam::types::StatusType::Inactive)
        .send()
        .await
        .unwrap();
}

async fn put(iam: &aws_sdk_iam::Client, user: &str, p: policy::DenyPolicy) {
    iam.put_user_policy()
        .user_name(user)
        .policy_name(p.name)
        .policy_document(p.document)
        .send()
        .await
        .unwrap();
}
