//! The entry points `web::PAGES` routes to, one module per object (`records::pages::deals::show`),
//! each a one-line call of the generic handler with its object, so every path is routed on
//! its own while the screens stay one implementation.

macro_rules! object_pages {
    ($($module:ident => $object:ident),* $(,)?) => {
        $(
            pub mod $module {
                use actix_web::web::{self, Bytes};

                use crate::crm::objects::Object;
                use crate::web::{Page, Visitor};

                pub async fn list(v: Visitor) -> Page {
                    super::super::list(v, Object::$object).await
                }

                pub async fn new(v: Visitor) -> Page {
                    super::super::new(v, Object::$object).await
                }

                pub async fn create(v: Visitor, body: Bytes) -> Page {
                    super::super::create(v, Object::$object, body).await
                }

                pub async fn show(v: Visitor, id: web::Path<String>) -> Page {
                    super::super::show(v, Object::$object, id.into_inner()).await
                }

                pub async fn edit(v: Visitor, id: web::Path<String>) -> Page {
                    super::super::edit(v, Object::$object, id.into_inner()).await
                }

                pub async fn update(v: Visitor, id: web::Path<String>, body: Bytes) -> Page {
                    super::super::update(v, Object::$object, id.into_inner(), body).await
                }

                pub async fn bulk(v: Visitor, body: Bytes) -> Page {
                    super::super::bulk::submit(v, Object::$object, body).await
                }

                pub async fn delete(v: Visitor, id: web::Path<String>) -> Page {
                    crate::web::trash::delete(v, Object::$object, id.into_inner()).await
                }
            }
        )*
    };
}

object_pages!(
    contacts => Contact,
    companies => Company,
    deals => Deal,
    tickets => Ticket,
    tasks => Task,
    notes => Note,
);
