#![deny(warnings)]

use queue_core::{JobError, Queue};

pub mod inner {
    use queue_core::{job, JobError};

    #[derive(serde::Serialize, serde::Deserialize)]
    pub struct Message {
        pub text: String,
    }

    #[job(queue = "inner")]
    pub async fn send(message: Message) -> Result<(), JobError> {
        let _ = message.text;
        Ok(())
    }

    pub mod deeper {
        use queue_core::{job, JobError};

        #[derive(serde::Serialize, serde::Deserialize)]
        pub(crate) struct CrateMessage(pub(crate) u32);

        #[derive(serde::Serialize, serde::Deserialize)]
        pub(super) struct ParentMessage(pub(super) u32);

        #[derive(serde::Serialize, serde::Deserialize)]
        pub(in crate::inner) struct InnerMessage(pub(in crate::inner) u32);

        #[derive(serde::Serialize, serde::Deserialize)]
        pub(self) struct SelfMessage(pub(self) u32);

        #[job]
        pub(crate) async fn for_crate(_: CrateMessage) -> Result<(), JobError> {
            Ok(())
        }

        #[job]
        pub(super) async fn for_parent(_: ParentMessage) -> Result<(), JobError> {
            Ok(())
        }

        #[job]
        pub(in crate::inner) async fn for_inner(_: InnerMessage) -> Result<(), JobError> {
            Ok(())
        }

        #[job]
        pub(super) async fn for_parent_again(_: ParentMessage) -> Result<(), JobError> {
            Ok(())
        }

        #[job]
        pub(self) async fn for_self(_: SelfMessage) -> Result<(), JobError> {
            Ok(())
        }

        pub mod deepest {
            use queue_core::{job, JobError};

            #[derive(serde::Serialize, serde::Deserialize)]
            pub(in super::super) struct UpTwo(pub(in super::super) u32);

            #[job]
            pub(in super::super) async fn up_two(_: UpTwo) -> Result<(), JobError> {
                Ok(())
            }

            #[job]
            pub(self) async fn down(
                _: super::super::super::inner::Message,
            ) -> Result<(), JobError> {
                Ok(())
            }

            pub(super) fn use_them() {
                let _ = (down::NAME, self::up_two::job(UpTwo(1)));
            }
        }

        pub(super) fn use_them() {
            let _ = for_self::job(SelfMessage(1));
            let _ = for_inner::job(InnerMessage(1));
            deepest::use_them();
        }
    }

    pub(crate) fn use_them() {
        let _ = deeper::for_crate::job(deeper::CrateMessage(1));
        let _ = deeper::for_parent::job(deeper::ParentMessage(1));
        let _ = deeper::for_parent_again::job(deeper::ParentMessage(1));
        let _ = deeper::for_inner::job(deeper::InnerMessage(1));
        let _ = deeper::deepest::up_two::job(deeper::deepest::UpTwo(1));
        deeper::use_them();
    }
}

#[allow(dead_code)]
async fn from_parent(queue: &Queue) -> queue_core::Result<()> {
    inner::send::dispatch(queue, inner::Message { text: "hi".into() }).await?;
    Ok(())
}

#[allow(dead_code)]
async fn call_directly() -> Result<(), JobError> {
    inner::send(inner::Message {
        text: "direct".into(),
    })
    .await
}

fn main() {
    inner::use_them();
    let _ = inner::deeper::for_crate::job(inner::deeper::CrateMessage(2));
    assert_eq!(inner::send::DEFINITION.queue, "inner");
    assert!(inner::send::DEFINITION.handler.ends_with("::inner::send"));
    assert!(!inner::send::DEFINITION.handler.ends_with("::send::send"));
}
