//! Domain types that carry their rules: a value of one of these types is valid by
//! construction ("parse, don't validate"). No I/O here.

pub mod common_passwords;
pub mod email;
pub mod ids;
pub mod money;
pub mod password;
pub mod role;
pub mod staff_role;

pub use email::EmailAddress;
pub use ids::{
    ApiKeyId, CustomFieldId, CustomValueId, EmailId, ImportId, PipelineId, RecordId, SegmentId, SessionId, TagId,
    TenantId, UserId,
};
pub use money::Money;
pub use password::Password;
pub use role::Role;
pub use staff_role::StaffRole;
