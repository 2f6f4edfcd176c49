//! Typed identifiers. All ids are UUIDv7 (time-ordered, so new rows land at the end of
//! indexes) stored as text, the one representation both databases share.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! id_type {
    ($name:ident) => {
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn new() -> Self {
                Self(Uuid::now_v7().to_string())
            }

            /// Accepts only a well-formed UUID, so junk in a path never reaches a query.
            pub fn parse(raw: &str) -> Option<Self> {
                Uuid::parse_str(raw).ok().map(|u| Self(u.to_string()))
            }

            /// Wraps a value read back from the database.
            pub fn from_db(raw: String) -> Self {
                Self(raw)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }
    };
}

id_type!(TenantId);
id_type!(UserId);
id_type!(SessionId);
id_type!(RecordId);
id_type!(TagId);
id_type!(PipelineId);
id_type!(CustomFieldId);
id_type!(CustomValueId);
id_type!(ImportId);
id_type!(ApiKeyId);
id_type!(EmailId);
id_type!(SegmentId);
