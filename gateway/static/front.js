// front.js — the demo site's front page (/) and section pages (/sections/<name>): the articles
// from /site/articles.json (the site's own content), each with its comment count kept live by
// a CommentCount widget on the light `count:<id>` channel, and the site's Recent Comments.
// Every title, standfirst and name reaches the DOM as text (el() makes text nodes).

import { CommentFeed } from "./commentfeed.js";
import { CommentCount, RecentComments, el, formatTime } from "./widgets.js";

async function getJson(path) {
  const answer = await fetch(path);
  if (!answer.ok) throw new Error(`${path} answered ${answer.status}`);
  return answer.json();
}

/** The section of a /sections/<slug> page, or null on the front page. */
function currentSection(sections) {
  const match = location.pathname.match(/^\/sections\/([^/]+)\/?$/);
  if (!match) return null;
  return sections.find((section) => section.url === `/sections/${match[1]}`) ?? null;
}

function showConnection(detail) {
  const node = document.getElementById("connection");
  node.dataset.state = detail.state;
  node.textContent =
    detail.state === "live" ? "Live counts"
    : detail.state === "stopped" ? "Offline — reload the page to reconnect"
    : detail.state === "reconnecting" ? "Reconnecting…"
    : "Connecting…";
}

function teaser(article) {
  const count = el("a", { class: "teaser-count", href: `${article.url}#comments` }, "Comments");
  const item = el(
    "li",
    { class: "teaser", "data-article-id": article.article_id },
    el("p", { class: "kicker" }, el("a", { href: article.section_url }, article.section)),
    el("h2", { class: "teaser-title" }, el("a", { href: article.url }, article.title)),
    el("p", { class: "standfirst" }, article.standfirst),
    el(
      "p",
      { class: "byline" },
      `By ${article.author} · `,
      el("time", { datetime: article.published_at }, formatTime(article.published_at)),
      " · ",
      count,
    ),
  );
  return { item, count };
}

async function main() {
  const [config, site] = await Promise.all([getJson("/config.json"), getJson("/site/articles.json")]);
  const section = currentSection(site.sections);
  const articles = section ? site.articles.filter((a) => a.section === section.name) : site.articles;

  const title = document.getElementById("listing-title");
  title.textContent = section ? section.name : "Latest news";
  if (section) document.title = `${section.name} — The Daily Demo`;
  for (const link of document.querySelectorAll(".sections a")) {
    if (section && link.getAttribute("href") === section.url) link.setAttribute("aria-current", "page");
  }

  const feed = new CommentFeed(config.gateway_url);
  feed.addEventListener("state", (event) => showConnection(event.detail));
  const list = document.getElementById("articles");
  const counts = [];
  for (const article of articles) {
    const { item, count } = teaser(article);
    list.append(item);
    counts.push(new CommentCount(count, feed, { articleId: article.article_id, countOnly: true }));
  }
  if (articles.length === 0) list.append(el("li", { class: "teaser-empty" }, "No articles in this section yet."));
  const recent = new RecentComments(document.getElementById("recent"), feed, {
    site: config.site,
    limit: 5,
    linkFor: (item) => `/articles/${encodeURIComponent(item.article_id)}#comment-${item.comment_id}`,
  });
  feed.connect();
  // A handle for debugging in the browser console.
  window.commentfeed = { feed, counts, recent, config, section };
}

main().catch((err) => {
  const node = document.getElementById("connection");
  node.dataset.state = "stopped";
  node.textContent = `The page could not start: ${err.message}`;
});
