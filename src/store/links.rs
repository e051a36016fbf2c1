//! Rows of the redirect-link tables (`links`, `link_codes`, `links_by_association`,
//! `link_clicks` in `schema.cql`). Plain data; no I/O. Depends on nothing else in the crate.

use serde::{Deserialize, Serialize};

/// A short link: `GET /r/{code}` redirects to `target_url`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinkRecord {
    pub id: i64,
    pub association_id: i64,
    /// Unique across all associations (the `link_codes` index); never changes.
    pub code: String,
    pub target_url: String,
    pub name: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    /// A tracked link made by `shortenLinks` on a send: the message whose text carries it
    /// (and its campaign, for the campaign's click report). Such links are not listed with
    /// the association's links (a campaign makes one per recipient and URL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign_id: Option<i64>,
    /// Clicks flushed to the store (`link_clicks`). Filled on read, ignored on write.
    #[serde(skip)]
    pub click_count: i64,
    /// Unix ms of the last flushed click. Filled on read, ignored on write.
    #[serde(skip)]
    pub last_clicked_at: Option<i64>,
}

/// Clicks of one link counted in memory since the last flush.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkClicks {
    pub link_id: i64,
    /// How many clicks to add.
    pub clicks: i64,
    /// Unix ms of the latest of them (the stored value only moves forward).
    pub last_clicked_at: i64,
}

/// One page of an association's links, newest first, and how many it has in all.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkPage {
    pub links: Vec<LinkRecord>,
    pub total: u64,
}

/// The clicks on a campaign's tracked links (flushed ones).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CampaignClicks {
    /// Every click on any of its links.
    pub clicks: i64,
    /// Recipients (messages) with at least one click.
    pub clicked_recipients: i64,
}
