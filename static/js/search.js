// The header's search box (templates/search/box.html), enhanced:
// - `/` anywhere outside a field focuses it, as on many sites;
// - typing offers the clients whose names match (GET /api/v1/search?kind=client),
//   a combobox: arrows pick one, Enter opens its card, Escape closes the list.
//   When the first client's name or slug starts with what was typed it is
//   picked already, so a few letters and Enter open the card; otherwise
//   Enter searches everything (/search). Without script the box still searches.
(function () {
  "use strict";

  var form = document.querySelector(".site-search");
  if (!form) return;
  var box = form.querySelector("input[name=q]");
  var list = form.querySelector("[role=listbox]");
  var options = [];
  var active = -1;
  var pending = null;
  var asked = "";

  function typing(target) {
    var tag = target && target.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || (target && target.isContentEditable);
  }

  document.addEventListener("keydown", function (event) {
    if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey) return;
    if (typing(event.target)) return;
    event.preventDefault();
    box.focus();
    box.select();
  });

  function pick(index) {
    active = index;
    options.forEach(function (option, i) {
      option.element.setAttribute("aria-selected", i === index ? "true" : "false");
    });
    if (index >= 0) box.setAttribute("aria-activedescendant", options[index].element.id);
    else box.removeAttribute("aria-activedescendant");
  }

  function close() {
    asked = "";
    list.hidden = true;
    box.setAttribute("aria-expanded", "false");
    pick(-1);
  }

  function show(hits, typed) {
    list.textContent = "";
    options = hits.map(function (hit, i) {
      var item = document.createElement("li");
      item.id = "site-search-client-" + i;
      item.setAttribute("role", "option");
      var name = document.createElement("bdi");
      name.textContent = hit.client.name;
      var slug = document.createElement("span");
      slug.className = "slug";
      slug.textContent = hit.client.slug;
      item.appendChild(name);
      item.appendChild(slug);
      item.addEventListener("mousedown", function (event) {
        event.preventDefault(); // keep the focus in the box until we leave
        window.location.assign(hit.url);
      });
      list.appendChild(item);
      return { element: item, hit: hit };
    });
    if (!options.length) return close();
    list.hidden = false;
    box.setAttribute("aria-expanded", "true");
    var first = hits[0].client;
    var lower = typed.toLowerCase();
    var starts = first.name.toLowerCase().indexOf(lower) === 0 || first.slug.indexOf(lower) === 0;
    pick(starts ? 0 : -1);
  }

  function suggest() {
    var typed = box.value.trim();
    if (typed.length < 2) return close();
    if (typed === asked) return;
    asked = typed;
    var url = form.getAttribute("data-suggest") + "?kind=client&limit=8&q=" + encodeURIComponent(typed);
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : { hits: [] }; })
      .then(function (body) { if (box.value.trim() === typed) show(body.hits, typed); })
      .catch(close);
  }

  box.addEventListener("input", function () {
    window.clearTimeout(pending);
    pending = window.setTimeout(suggest, 120);
  });

  box.addEventListener("keydown", function (event) {
    if (event.key === "ArrowDown" && options.length) {
      event.preventDefault();
      list.hidden = false;
      box.setAttribute("aria-expanded", "true");
      pick(Math.min(active + 1, options.length - 1));
    } else if (event.key === "ArrowUp" && options.length) {
      event.preventDefault();
      pick(Math.max(active - 1, -1));
    } else if (event.key === "Escape") {
      close();
    } else if (event.key === "Enter" && !list.hidden && active >= 0) {
      event.preventDefault();
      window.location.assign(options[active].hit.url);
    }
  });

  box.addEventListener("blur", function () { window.setTimeout(close, 150); });
})();
