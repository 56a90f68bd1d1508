// Add/remove pregnancy and lab rows; offer the units of the chosen test. The form works without it.
(function () {
  "use strict";
  var units = JSON.parse(document.getElementById("units-data").textContent);
  function fillUnits(row) {
    var test = row.querySelector(".lab-test"), unit = row.querySelector(".lab-unit");
    if (!test || !unit) return;
    var keep = unit.value;
    unit.innerHTML = '<option value="">—</option>';
    (units[test.value] || []).forEach(function (u) {
      var o = document.createElement("option"); o.value = u; o.textContent = u;
      if (u === keep) o.selected = true;
      unit.appendChild(o);
    });
  }
  function add(containerId, templateId) {
    var box = document.getElementById(containerId);
    var i = box.children.length;
    while (box.querySelector('[name$=".' + i + '.outcome"],[name^="labs.' + i + '."]')) i++;
    var html = document.getElementById(templateId).innerHTML.replace(/__i__/g, String(i));
    box.insertAdjacentHTML("beforeend", html);
    var row = box.lastElementChild;
    var first = row.querySelector("select,input");
    if (first) first.focus();
    return row;
  }
  document.getElementById("add-pregnancy").addEventListener("click", function () { add("pregnancies", "preg-template"); });
  document.getElementById("add-lab").addEventListener("click", function () { add("labs", "lab-template"); });
  document.addEventListener("click", function (e) {
    if (e.target.classList.contains("remove-row")) { e.target.closest(".row").remove(); }
  });
  document.addEventListener("change", function (e) {
    if (e.target.classList.contains("lab-test")) fillUnits(e.target.closest(".row"));
  });
})();
