// The ops war room: the per-minute chart (drawn once, fed from each frame's JSON; the server redraws the wall every
// second, so the hour slides on with the clock even when nothing sells), and a two-step "mark down" so a stray
// click never takes a warehouse offline. (New exceptions slide in, the Beijing clock ticks: live.js.)
(function () {
  "use strict";
  var axisFormat = new Intl.DateTimeFormat("en-GB", {
    timeZone: "Asia/Shanghai", hour: "2-digit", minute: "2-digit", hourCycle: "h23"
  });

  function money(cents) { return liveroom.money(cents, "short"); }  // as the frame draws it

  function readSeries() {
    var script = document.getElementById("ops-series");
    var rows = script ? JSON.parse(script.textContent || "[]") : [];
    return {
      text: script ? script.textContent : "",
      x: rows.map(function (r) { return Math.round(Date.parse(r[0]) / 1000); }),
      orders: rows.map(function (r) { return r[1]; }),
      gmv: rows.map(function (r) { return r[2]; })
    };
  }

  // --- the chart --------------------------------------------------------------------------------------------

  var chart = null;
  var current = null;

  function css(name) { return getComputedStyle(document.body).getPropertyValue(name).trim(); }

  function niceMax(max, floor) {
    var top = Math.max(floor, max * 1.15);
    var step = Math.pow(10, Math.floor(Math.log10(top)));
    return Math.ceil(top / step) * step;
  }

  function createChart(host, series) {
    var font = "15px " + css("--num");
    var muted = css("--muted"), grid = css("--grid") || "rgba(128,128,128,.15)";
    var ordersColor = css("--c-orders"), gmvColor = css("--c-gmv");
    var opts = {
      width: host.clientWidth,
      height: host.clientHeight,
      tzDate: function (ts) { return uPlot.tzDate(new Date(ts * 1000), "Asia/Shanghai"); },
      legend: { show: false },
      cursor: { show: false },
      padding: [12, 8, 0, 8],
      scales: {
        x: { time: true },
        orders: { range: function (u, min, max) { return [0, niceMax(max, 5)]; } },
        gmv: { range: function (u, min, max) { return [0, niceMax(max, 10000)]; } }
      },
      axes: [
        { stroke: muted, font: font, space: 90, grid: { show: false }, ticks: { stroke: grid },
          values: function (u, splits) {
            return splits.map(function (ts) { return axisFormat.format(new Date(ts * 1000)); });
          } },
        { scale: "orders", stroke: ordersColor, font: font, size: 56, grid: { stroke: grid, width: 1 },
          ticks: { show: false },
          values: function (u, splits) { return splits.map(function (v) { return v % 1 ? "" : String(v); }); } },
        { scale: "gmv", side: 1, stroke: gmvColor, font: font, size: 84, grid: { show: false },
          ticks: { show: false },
          values: function (u, splits) { return splits.map(money); } }
      ],
      series: [
        {},
        { label: host.dataset.orders, scale: "orders", stroke: ordersColor, fill: ordersColor, width: 0,
          paths: uPlot.paths.bars({ size: [0.7, 60], gap: 1 }), points: { show: false } },
        { label: host.dataset.gmv, scale: "gmv", stroke: gmvColor, width: 3, points: { show: false } }
      ]
    };
    return new uPlot(opts, [series.x, series.orders, series.gmv], host);
  }

  function draw(series) {
    current = series;
    var host = document.getElementById("ops-chart");
    if (!host || typeof uPlot === "undefined") return;
    if (chart === null || !host.contains(chart.root)) {
      host.textContent = "";
      chart = createChart(host, series);
      follow(host);
    } else {
      chart.setData([series.x, series.orders, series.gmv]);
    }
  }

  function resize() {
    var host = document.getElementById("ops-chart");
    if (chart && host && host.clientHeight > 0) chart.setSize({ width: host.clientWidth, height: host.clientHeight });
  }

  // The chart's panel shrinks when the rows under it grow (a funnel filling in, a reminders line): the drawing
  // follows its box, not only the window (it sits absolutely inside it, so it never sizes the box itself).
  var observed = null;
  function follow(host) {
    if (observed === host || typeof ResizeObserver === "undefined") return;
    observed = host;
    new ResizeObserver(resize).observe(host);
  }

  // --- mark down: click once to arm, again within a few seconds to send -----------------------------------

  var armed = null;  // {key, until}: the warehouse ("w:GZ") or carrier ("c:ZTO") whose down button is armed

  function keyOf(form) {
    var row = form.closest("[data-warehouse], [data-carrier]");
    if (!row) return null;
    return row.dataset.warehouse ? "w:" + row.dataset.warehouse : "c:" + row.dataset.carrier;
  }

  function showArmed() {
    if (armed && Date.now() >= armed.until) armed = null;
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      var key = keyOf(form);
      var button = form.querySelector("button");
      if (!key || !button) return;
      if (!button.dataset.label) button.dataset.label = button.textContent;
      var on = armed !== null && armed.key === key;
      button.textContent = on ? form.dataset.confirm : button.dataset.label;
      button.classList.toggle("armed", on);
    });
  }

  // htmx asks before it posts: the first click arms the button, a second one within seconds lets the post go.
  document.addEventListener("htmx:confirm", function (event) {
    var form = event.detail.elt;
    if (!form.dataset || !form.dataset.confirm) return;
    var key = keyOf(form) || "";
    if (armed && armed.key === key && Date.now() < armed.until) {
      armed = null;
      showArmed();
      return;
    }
    event.preventDefault();
    armed = { key: key, until: Date.now() + 5000 };
    showArmed();
    setTimeout(showArmed, 5100);
  });

  // --- frames ---------------------------------------------------------------------------------------------

  document.addEventListener("liveroom:frame", function () {
    var series = readSeries();
    if (!current || series.text !== current.text) draw(series);
    showArmed();
  });
  window.addEventListener("resize", resize);
  draw(readSeries());

  // For tests and for anyone poking at the wall from devtools.
  window.liveroomOps = { chartData: function () { return chart ? chart.data : null; } };
})();
