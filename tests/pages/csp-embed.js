// The widget's one tag, with the edge and key from the query: ?edge=http://127.0.0.1:PORT&key=pk_...
const params = new URLSearchParams(location.search);
const tag = document.createElement("script");
tag.src = `${params.get("edge")}/aura.js`;
tag.async = true;
tag.dataset.key = params.get("key");
tag.dataset.title = "Shop assistant";
tag.dataset.voice = "nova";
tag.dataset.language = "en-GB";
document.body.append(tag);
