//! What a platform staff member may do. Staff are not portal users: their roles are the
//! operator's, and none of them reaches portal data except through a JITA grant.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StaffRole {
    /// Answers customers; may request JITA grants.
    Support,
    /// Fixes what is broken; may request JITA grants.
    Engineer,
    /// Reads the platform audit trail; may request JITA grants for investigations.
    Security,
    /// Changes feature flag stages.
    ReleaseManager,
}

impl StaffRole {
    pub const ALL: [StaffRole; 4] =
        [StaffRole::Support, StaffRole::Engineer, StaffRole::Security, StaffRole::ReleaseManager];

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            StaffRole::Support => "support",
            StaffRole::Engineer => "engineer",
            StaffRole::Security => "security",
            StaffRole::ReleaseManager => "release_manager",
        }
    }

    /// May enter a portal through a JITA grant.
    pub fn may_request_jita(self) -> bool {
        matches!(self, StaffRole::Support | StaffRole::Engineer | StaffRole::Security)
    }
}

impl fmt::Display for StaffRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
