//! The requester as the API server authenticated it; the type lives in `wfe_api::identity`
//! because the block rules judge it.

pub use wfe_api::identity::UserInfo;
