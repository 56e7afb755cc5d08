// Dependent address lists: choosing a province fills its districts, and so on down to the postcode.
// The form works without this script (the "Update the address lists" button asks the server instead).
(function () {
  "use strict";
  var box = document.querySelector(".address-lists");
  if (!box || !window.fetch) { return; }
  var url = box.getAttribute("data-places-url");
  var order = ["province", "district", "subdistrict", "postcode"];
  var selects = {};
  order.forEach(function (level) { selects[level] = document.getElementById(level); });
  box.classList.add("scripted");

  function clear(level) {
    var select = selects[level];
    while (select.options.length > 1) { select.remove(1); }
    select.value = "";
  }

  function fill(level, items) {
    var select = selects[level];
    items.forEach(function (item) { select.add(new Option(item.name, item.code)); });
    if (level === "postcode" && items.length === 1) { select.value = items[0].code; }
  }

  order.slice(0, 3).forEach(function (level, index) {
    selects[level].addEventListener("change", function () {
      order.slice(index + 1).forEach(clear);
      var code = selects[level].value;
      if (!code) { return; }
      var child = order[index + 1];
      var address = url + (url.indexOf("?") < 0 ? "?" : "&") + level + "=" + encodeURIComponent(code);
      fetch(address, { headers: { "Accept": "application/json" }, credentials: "same-origin" })
        .then(function (response) { return response.ok ? response.json() : []; })
        .then(function (items) { if (selects[level].value === code) { fill(child, items); } })
        .catch(function () { box.classList.remove("scripted"); });
    });
  });
})();
