/* The hosted checkout page: formats and checks the card as typed, submits with the page's CSRF token and an
   attempt key, and follows the payment by polling the status endpoint until it is final. No inline script, no
   third party: the Content-Security-Policy allows this file only. The card number is sent to our own /pay
   endpoint (which seals it in the vault) and nowhere else, and never written to the console or storage. */
(function () {
  "use strict";

  var root = document.getElementById("co-checkout");
  if (!root) { return; }
  var statusUrl = root.getAttribute("data-status-url");
  var state = JSON.parse(document.getElementById("co-state").textContent);
  var statusBox = document.getElementById("co-status");
  var alertBox = document.getElementById("co-alert");
  var cardForm = document.getElementById("co-card-form");
  var upiForm = document.getElementById("co-upi-form");
  var upiWait = document.getElementById("co-upi-wait");
  var polling = null;
  var submitting = false;

  // --- card brand and formatting (mirrors payments/cards.py) ---------------------------------------------------
  var BRANDS = [
    { name: "American Express", ranges: [["34", "34"], ["37", "37"]], lengths: [15], cvc: 4, groups: [4, 6, 5] },
    { name: "Visa", ranges: [["4", "4"]], lengths: [13, 16, 19], cvc: 3 },
    { name: "Mastercard", ranges: [["51", "55"], ["2221", "2720"]], lengths: [16], cvc: 3 },
    { name: "RuPay", ranges: [["60", "60"], ["652", "653"], ["81", "82"], ["508", "508"]], lengths: [16], cvc: 3 },
    { name: "Discover", ranges: [["6011", "6011"], ["644", "649"], ["65", "65"]], lengths: [16, 19], cvc: 3 },
    { name: "Diners Club", ranges: [["300", "305"], ["36", "36"], ["38", "39"]], lengths: [14, 16], cvc: 3 },
    { name: "JCB", ranges: [["3528", "3589"]], lengths: [16, 17, 18, 19], cvc: 3 },
    { name: "UnionPay", ranges: [["62", "62"]], lengths: [16, 17, 18, 19], cvc: 3 }
  ];

  function brandOf(digits) {
    for (var i = 0; i < BRANDS.length; i++) {
      for (var j = 0; j < BRANDS[i].ranges.length; j++) {
        var low = BRANDS[i].ranges[j][0], high = BRANDS[i].ranges[j][1];
        var head = digits.slice(0, low.length);
        if (head.length === low.length && head >= low && head <= high) { return BRANDS[i]; }
      }
    }
    return null;
  }

  function luhn(digits) {
    var total = 0;
    for (var i = 0; i < digits.length; i++) {
      var d = parseInt(digits.charAt(digits.length - 1 - i), 10);
      if (i % 2 === 1) { d *= 2; if (d > 9) { d -= 9; } }
      total += d;
    }
    return total % 10 === 0;
  }

  function formatNumber(digits, brand) {
    var groups = brand && brand.groups ? brand.groups : [4, 4, 4, 4, 3];
    var out = [], at = 0;
    for (var i = 0; i < groups.length && at < digits.length; i++) {
      out.push(digits.slice(at, at + groups[i]));
      at += groups[i];
    }
    return out.join(" ");
  }

  function randomKey() {
    var bytes = new Uint8Array(18);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  // --- messages: tied to their field, announced ----------------------------------------------------------------
  function setError(field, message) {
    var input = document.getElementById(field);
    var holder = document.getElementById(field + "-error");
    if (holder) { holder.textContent = message || ""; }
    if (input) {
      if (message) { input.setAttribute("aria-invalid", "true"); } else { input.removeAttribute("aria-invalid"); }
    }
  }

  function clearErrors(form) {
    var holders = form.querySelectorAll(".co-error");
    for (var i = 0; i < holders.length; i++) { holders[i].textContent = ""; }
    var inputs = form.querySelectorAll("[aria-invalid]");
    for (var k = 0; k < inputs.length; k++) { inputs[k].removeAttribute("aria-invalid"); }
  }

  function showErrors(form, errors) {
    var first = null;
    Object.keys(errors).forEach(function (field) {
      if (field === "form") {
        var formError = document.getElementById(form.getAttribute("data-method") + "-form-error");
        formError.textContent = errors[field];
        showAlert(errors[field]);
      } else {
        setError(field, errors[field]);
        if (!first) { first = document.getElementById(field); }
      }
    });
    if (first) { first.focus(); }
  }

  function say(message) { statusBox.textContent = message; }

  function showAlert(message) {
    alertBox.textContent = message;
    alertBox.hidden = !message;
  }

  // --- the card form ---------------------------------------------------------------------------------------------
  function cardErrors() {
    var errors = {};
    var digits = document.getElementById("card_number").value.replace(/\D/g, "");
    var brand = brandOf(digits);
    if (!digits) { errors.card_number = "Enter the card number."; }
    else if (!brand) { errors.card_number = "This card brand is not supported."; }
    else if (brand.lengths.indexOf(digits.length) === -1 || !luhn(digits)) {
      errors.card_number = "The card number is not a valid card number.";
    }
    var expiry = /^\s*(\d{1,2})\s*\/\s*(\d{2})\s*$/.exec(document.getElementById("card_expiry").value);
    if (!expiry) { errors.card_expiry = "Enter the expiry date as MM / YY."; }
    else {
      var month = parseInt(expiry[1], 10), year = 2000 + parseInt(expiry[2], 10);
      var now = new Date();
      if (month < 1 || month > 12) { errors.card_expiry = "The card's expiration month is invalid."; }
      else if (year < now.getFullYear() || (year === now.getFullYear() && month < now.getMonth() + 1)) {
        errors.card_expiry = "The card has expired.";
      }
    }
    var cvc = document.getElementById("card_cvc").value.trim();
    var cvcLength = brand ? brand.cvc : 3;
    if (!/^\d+$/.test(cvc) || cvc.length !== cvcLength) {
      errors.card_cvc = "The card's security code must be " + cvcLength + " digits.";
    }
    return errors;
  }

  if (cardForm) {
    var number = document.getElementById("card_number");
    var brandLabel = document.getElementById("card_brand");
    number.addEventListener("input", function () {
      var digits = number.value.replace(/\D/g, "").slice(0, 19);
      var brand = brandOf(digits);
      number.value = formatNumber(digits, brand);
      brandLabel.textContent = brand ? brand.name : "";
    });
    var expiryInput = document.getElementById("card_expiry");
    expiryInput.addEventListener("input", function (event) {
      var digits = expiryInput.value.replace(/\D/g, "").slice(0, 4);
      if (digits.length === 1 && digits > "1") { digits = "0" + digits; }
      var deleting = event.inputType && event.inputType.indexOf("delete") === 0;
      expiryInput.value = digits.length > 2 || (digits.length === 2 && !deleting)
        ? digits.slice(0, 2) + " / " + digits.slice(2) : digits;
    });
    var cvcInput = document.getElementById("card_cvc");
    cvcInput.addEventListener("input", function () { cvcInput.value = cvcInput.value.replace(/\D/g, "").slice(0, 4); });
    ["card_number", "card_expiry", "card_cvc"].forEach(function (id) {
      document.getElementById(id).addEventListener("blur", function () {
        var el = document.getElementById(id);
        if (!el.value) { return; }
        setError(id, cardErrors()[id] || "");
      });
    });
    cardForm.addEventListener("submit", function (event) {
      event.preventDefault();
      clearErrors(cardForm);
      showAlert("");
      var errors = cardErrors();
      if (Object.keys(errors).length) {
        showErrors(cardForm, errors);
        say("Please correct the highlighted fields.");
        return;
      }
      submit(cardForm);
    });
  }

  if (upiForm) {
    upiForm.addEventListener("submit", function (event) {
      event.preventDefault();
      clearErrors(upiForm);
      showAlert("");
      submit(upiForm);
    });
  }

  // Card or UPI: one form shows at a time; the radio buttons are keyboard-operable as they are.
  var radios = document.querySelectorAll("input[name='co-method']");
  for (var r = 0; r < radios.length; r++) {
    radios[r].addEventListener("change", function (event) {
      var upi = event.target.value === "upi";
      if (cardForm) { cardForm.hidden = upi; }
      if (upiForm) { upiForm.hidden = !upi || (upiWait && !upiWait.hidden); }
      showAlert("");
    });
  }

  function setBusy(busy) {
    submitting = busy;
    var buttons = document.querySelectorAll(".co-form button[type='submit']");
    for (var i = 0; i < buttons.length; i++) {
      buttons[i].disabled = busy;
      buttons[i].setAttribute("aria-busy", busy ? "true" : "false");
    }
    for (var k = 0; k < radios.length; k++) { radios[k].disabled = busy; }
  }

  function newAttempt() {
    // After a failed payment the next submission is a new attempt: a new key, so the server makes a new payment.
    var key = randomKey();
    var inputs = document.querySelectorAll("input[name='attempt_key']");
    for (var i = 0; i < inputs.length; i++) { inputs[i].value = key; }
  }

  function submit(form) {
    if (submitting) { return; }  // the server answers a second submission with the first payment anyway
    setBusy(true);
    say("Processing your payment…");
    var body = new URLSearchParams(new FormData(form));
    var token = form.querySelector("input[name='csrfmiddlewaretoken']").value;
    fetch(form.getAttribute("action"), {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: { "X-CSRFToken": token, "Accept": "application/json" }
    }).then(function (response) {
      return response.json().then(function (data) {
        return { ok: response.ok, data: data };
      }, function () {
        return { ok: false, data: { errors: { form: "Something went wrong. Reload the page and try again." } } };
      });
    }).then(function (result) {
      if (!result.ok) {
        setBusy(false);
        say("");
        showErrors(form, result.data.errors || { form: "Something went wrong. Try again." });
        return;
      }
      apply(result.data);
    }, function () {
      setBusy(false);
      say("");
      showErrors(form, { form: "We could not reach the server. Check your connection and try again." });
    });
  }

  // --- following the payment -----------------------------------------------------------------------------------
  function poll() {
    if (polling) { return; }
    polling = window.setTimeout(function tick() {
      fetch(statusUrl, { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (response) { return response.json(); })
        .then(function (data) { polling = null; apply(data); },
              function () { polling = window.setTimeout(tick, 2000); });
    }, 1000);
  }

  function countdown(element, isoTime) {
    if (!element || !isoTime) { return; }
    var end = Date.parse(isoTime);
    function show() {
      var left = Math.max(0, Math.floor((end - Date.now()) / 1000));
      var hours = Math.floor(left / 3600), minutes = Math.floor((left % 3600) / 60), seconds = left % 60;
      element.textContent = (hours ? hours + ":" + ("0" + minutes).slice(-2) : minutes) + ":" + ("0" + seconds).slice(-2);
      if (left === 0) { poll(); }
    }
    show();
    if (element._timer) { window.clearInterval(element._timer); }
    element._timer = window.setInterval(show, 1000);
  }

  function showUpi(upi) {
    if (!upiWait) { return; }
    if (cardForm) { cardForm.hidden = true; }
    if (upiForm) { upiForm.hidden = true; }
    var methods = document.getElementById("co-methods");
    if (methods) { methods.hidden = true; }
    var wasHidden = upiWait.hidden;
    upiWait.hidden = false;
    var qr = document.getElementById("co-upi-qr");
    if (upi.qr_svg) { qr.src = upi.qr_svg; qr.hidden = false; } else { qr.hidden = true; }
    document.getElementById("co-upi-open").href = upi.uri || "#";
    document.getElementById("co-upi-collect").hidden = !upi.vpa;
    document.getElementById("co-upi-vpa").textContent = upi.vpa || "";
    var sandboxRow = document.getElementById("co-upi-sandbox-row");
    sandboxRow.hidden = !upi.sandbox_url;
    if (upi.sandbox_url) { document.getElementById("co-upi-sandbox").href = upi.sandbox_url; }
    countdown(document.getElementById("co-upi-countdown"), upi.expires_at);
    if (wasHidden) {
      say("Scan the QR code or open your UPI app to approve the payment. This page updates by itself.");
      document.getElementById("co-upi-heading").setAttribute("tabindex", "-1");
      document.getElementById("co-upi-heading").focus();
    }
  }

  function hideUpi() {
    if (!upiWait || upiWait.hidden) { return; }
    upiWait.hidden = true;
    var methods = document.getElementById("co-methods");
    if (methods) { methods.hidden = false; }
    var upiChosen = !cardForm || (document.querySelector("input[name='co-method'][value='upi']") || {}).checked;
    if (upiForm) { upiForm.hidden = !upiChosen; }
    if (cardForm) { cardForm.hidden = !!upiChosen; }
  }

  function apply(data) {
    state = data;
    if (data.status === "complete") {
      setBusy(true);
      say("Payment successful. Returning you to the shop…");
      document.getElementById("co-checkout").setAttribute("data-state", "complete");
      window.setTimeout(function () { window.location.assign(data.redirect); }, 800);
      return;
    }
    if (data.status === "expired") {
      document.getElementById("co-open").hidden = true;
      document.getElementById("co-expired").hidden = false;
      document.getElementById("co-checkout").setAttribute("data-state", "expired");
      say("This payment page has expired. Nothing was charged.");
      return;
    }
    var payment = data.payment;
    if (!payment) { setBusy(false); return; }
    document.getElementById("co-checkout").setAttribute("data-state", payment.status);
    if (payment.status === "failed" || payment.status === "canceled") {
      hideUpi();
      newAttempt();
      setBusy(false);
      say("");
      var reason = payment.failure_message || "The payment did not go through.";
      showAlert("Payment failed: " + reason + " Try again, or use another card or payment method.");
      alertBox.focus();
      return;
    }
    setBusy(true);
    if (payment.status === "requires_action" && payment.upi) {
      showUpi(payment.upi);
    } else if (payment.status === "succeeded") {
      say("Payment successful.");
    } else {
      say("Processing your payment…");
    }
    poll();
  }

  countdown(document.getElementById("co-session-countdown"), root.querySelector("[data-expires-at]") &&
    root.querySelector("[data-expires-at]").getAttribute("data-expires-at"));
  // A refresh while a payment is in flight picks it up again instead of offering to pay twice.
  if (state.payment && state.payment.status !== "failed" && state.payment.status !== "canceled") { apply(state); }
})();
