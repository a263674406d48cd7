//! The published-format records in `tests/fixtures/cloudtrail`, for unit tests.

macro_rules! fixture {
    ($name:ident, $file:literal) => {
        pub const $name: &str = include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/cloudtrail/",
            $file
        ));
    };
}

fixture!(ASSUME_ROLE, "assume_role.json");
fixture!(GET_SESSION_TOKEN, "get_session_token.json");
fixture!(LIST_USERS, "list_users.json");
fixture!(LIST_ROLES_DENIED, "list_roles_denied.json");
fixture!(CREATE_USER, "create_user.json");
fixture!(CREATE_ACCESS_KEY, "create_access_key.json");
fixture!(CREATE_LOGIN_PROFILE, "create_login_profile.json");
fixture!(RUN_INSTANCES, "run_instances.json");
fixture!(STOP_LOGGING, "stop_logging.json");
fixture!(GET_CALLER_IDENTITY, "get_caller_identity.json");
fixture!(AGGREGATED, "aggregated.json");

fixture!(PERSISTENCE, "techniques/persistence.json");
fixture!(EXFILTRATION, "techniques/exfiltration.json");
fixture!(CREDENTIAL_ACCESS, "techniques/credential_access.json");
fixture!(DEFENSE_EVASION, "techniques/defense_evasion.json");
fixture!(IMPACT, "techniques/impact.json");
fixture!(EXECUTION, "techniques/execution.json");
fixture!(ERRORS, "techniques/errors.json");

/// The records of a CloudTrail log file (`{"Records": [...]}`), in file order.
pub fn log(text: &str) -> Vec<super::TrailEvent> {
    let file: serde_json::Value = serde_json::from_str(text).expect("a log file");
    file["Records"]
        .as_array()
        .expect("records")
        .iter()
        .map(|r| event(&r.to_string()))
        .collect()
}

pub fn event(text: &str) -> super::TrailEvent {
    super::parse_record(text).unwrap_or_else(|e| panic!("fixture does not parse: {e}"))
}
