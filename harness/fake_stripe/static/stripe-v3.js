/*
 * Fake Stripe.js v3, served by rakubun-dashboard's fake Stripe at /v3/ (test mode, offline).
 *
 * A subset of https://js.stripe.com/v3/: Stripe(pk), elements(), create('card' | 'payment')
 * with mount(), createPaymentMethod, confirmCardPayment, confirmPayment, handleCardAction,
 * retrievePaymentIntent, redirectToCheckout. It calls the fake Stripe that served it, with
 * the publishable key and the PaymentIntent's client_secret, as Stripe.js calls Stripe. The
 * card element is plain inputs (no iframe); 3-D Secure opens the fake's page in a modal.
 * Results are Stripe.js's: {paymentIntent} / {paymentMethod}, or {error} in Stripe's shape.
 */
(function () {
  'use strict';

  var script = document.currentScript;
  var ORIGIN = script && script.src ? new URL(script.src).origin : window.location.origin;
  var MODAL_ID = 'fake-stripe-3ds';

  function IntegrationError(message) {
    var error = new Error(message);
    error.name = 'IntegrationError';
    return error;
  }

  // Stripe's form encoding: {card: {number: 1}} -> card[number]=1.
  function encode(params, prefix, pairs) {
    pairs = pairs || [];
    Object.keys(params).forEach(function (name) {
      var value = params[name];
      var key = prefix ? prefix + '[' + name + ']' : name;
      if (value === undefined || value === null) {
        return;
      }
      if (typeof value === 'object') {
        encode(value, key, pairs);
      } else {
        pairs.push(encodeURIComponent(key) + '=' + encodeURIComponent(String(value)));
      }
    });
    return pairs.join('&');
  }

  function apiError(status, body) {
    if (body && body.error) {
      return body.error;
    }
    return {type: 'api_error', message: 'The fake Stripe answered HTTP ' + status + '.'};
  }

  // One API call; resolves {body} or {error}, never rejects.
  function call(method, path, params) {
    var query = encode(params);
    var url = ORIGIN + path + (method === 'GET' ? '?' + query : '');
    var init = {method: method};
    if (method !== 'GET') {
      init.headers = {'Content-Type': 'application/x-www-form-urlencoded'};
      init.body = query;
    }
    return fetch(url, init).then(
      function (response) {
        return response.json().then(
          function (body) {
            return response.ok ? {body: body} : {error: apiError(response.status, body)};
          },
          function () {
            return {error: apiError(response.status, null)};
          }
        );
      },
      function (failure) {
        return {error: {type: 'api_connection_error', message: String(failure)}};
      }
    );
  }

  function intentId(clientSecret, method) {
    var match = typeof clientSecret === 'string' && /^(pi_[A-Za-z0-9]+)_secret_[A-Za-z0-9]+$/.exec(clientSecret);
    if (!match) {
      throw IntegrationError(
        'Invalid value for ' + method + ' intent secret: value should be a client_secret string. ' +
        'You specified: ' + clientSecret + '.'
      );
    }
    return match[1];
  }

  // ---- Elements -----------------------------------------------------------------------

  function Element(type, options) {
    this.elementType = type;
    this._options = options || {};
    this._node = null;
    this._inputs = null;
    this._handlers = {};
  }

  Element.prototype.mount = function (target) {
    var node = typeof target === 'string' ? document.querySelector(target) : target;
    if (!node || !node.appendChild) {
      throw IntegrationError('The selector you specified (' + target + ') applies to no DOM elements that are currently on the page.');
    }
    var box = document.createElement('div');
    box.className = 'FakeStripeElement FakeStripeElement--' + this.elementType;
    box.setAttribute('data-fake-stripe-element', this.elementType);
    var self = this;
    this._inputs = {};
    [
      ['number', 'cardnumber', 'Card number', 'cc-number'],
      ['expiry', 'exp-date', 'MM / YY', 'cc-exp'],
      ['cvc', 'cvc', 'CVC', 'cc-csc']
    ].forEach(function (field) {
      var input = document.createElement('input');
      input.name = field[1];
      input.placeholder = field[2];
      input.autocomplete = field[3];
      input.inputMode = 'numeric';
      input.setAttribute('data-fake-stripe', field[0]);
      input.addEventListener('input', function () { self._emit('change', self._state()); });
      input.addEventListener('focus', function () { self._emit('focus', {elementType: self.elementType}); });
      input.addEventListener('blur', function () { self._emit('blur', {elementType: self.elementType}); });
      self._inputs[field[0]] = input;
      box.appendChild(input);
    });
    node.appendChild(box);
    this._node = box;
    this._emit('ready', {elementType: this.elementType});
  };

  Element.prototype.unmount = function () {
    if (this._node && this._node.parentNode) {
      this._node.parentNode.removeChild(this._node);
    }
    this._node = null;
    this._inputs = null;
  };
  Element.prototype.destroy = Element.prototype.unmount;

  Element.prototype.on = function (event, handler) {
    (this._handlers[event] = this._handlers[event] || []).push(handler);
    return this;
  };
  Element.prototype.off = function (event, handler) {
    this._handlers[event] = (this._handlers[event] || []).filter(function (h) { return h !== handler; });
    return this;
  };
  Element.prototype.update = function (options) { this._options = Object.assign(this._options, options || {}); };
  Element.prototype.focus = function () { if (this._inputs) { this._inputs.number.focus(); } };
  Element.prototype.blur = function () { if (this._inputs) { document.activeElement.blur(); } };
  Element.prototype.clear = function () {
    if (this._inputs) {
      Object.keys(this._inputs).forEach(function (k) { this._inputs[k].value = ''; }, this);
    }
  };

  Element.prototype._emit = function (event, payload) {
    (this._handlers[event] || []).forEach(function (handler) { handler(payload); });
  };

  Element.prototype._state = function () {
    var card = this._card();
    var complete = !card.error;
    return {elementType: this.elementType, empty: !card.number, complete: complete, error: undefined, brand: 'unknown'};
  };

  // The typed card as API params, or the validation_error Stripe.js shows before any call.
  Element.prototype._card = function () {
    if (!this._inputs) {
      return {error: {type: 'validation_error', code: 'incomplete_number', message: 'The card Element is not mounted.'}};
    }
    var number = this._inputs.number.value.replace(/[\s-]/g, '');
    var expiry = this._inputs.expiry.value.replace(/\s/g, '').split('/');
    var cvc = this._inputs.cvc.value.trim();
    if (!number) {
      return {error: {type: 'validation_error', code: 'incomplete_number', message: 'Your card number is incomplete.'}};
    }
    if (expiry.length !== 2 || !expiry[0] || !expiry[1]) {
      return {error: {type: 'validation_error', code: 'incomplete_expiry', message: "Your card's expiration date is incomplete."}};
    }
    if (!cvc) {
      return {error: {type: 'validation_error', code: 'incomplete_cvc', message: "Your card's security code is incomplete."}};
    }
    return {number: number, exp_month: expiry[0], exp_year: expiry[1], cvc: cvc};
  };

  function Elements(stripe, options) {
    this._stripe = stripe;
    this._options = options || {};
    this._elements = {};
  }

  Elements.prototype.create = function (type, options) {
    if (type !== 'card' && type !== 'payment') {
      throw IntegrationError('The fake Stripe.js makes only card and payment Elements, not ' + type + '.');
    }
    if (this._elements[type]) {
      throw IntegrationError('Can only create one Element of type ' + type + '.');
    }
    return (this._elements[type] = new Element(type, options));
  };
  Elements.prototype.getElement = function (type) { return this._elements[type] || null; };
  Elements.prototype.update = function (options) { this._options = Object.assign(this._options, options || {}); };
  Elements.prototype.submit = function () {
    var element = this._elements.payment || this._elements.card;
    var card = element ? element._card() : {error: {type: 'validation_error', message: 'No Element is mounted.'}};
    return Promise.resolve(card.error ? {error: card.error} : {});
  };

  // ---- Stripe -------------------------------------------------------------------------

  function Stripe(key, options) {
    if (!(this instanceof Stripe)) {
      return new Stripe(key, options);
    }
    if (typeof key !== 'string' || !key) {
      throw IntegrationError('Please call Stripe() with your publishable key. You used an empty string.');
    }
    if (key.indexOf('sk_') === 0) {
      throw IntegrationError('You should not use your secret key with Stripe.js. Please pass a publishable key instead.');
    }
    this._key = key;
    this._options = options || {};
  }

  Stripe.prototype.elements = function (options) {
    return new Elements(this, options);
  };

  Stripe.prototype._call = function (method, path, params) {
    params.key = this._key;
    return call(method, path, params);
  };

  Stripe.prototype._createCardMethod = function (element, billingDetails) {
    if (!(element instanceof Element)) {
      return Promise.resolve({error: {type: 'invalid_request_error', message: 'A card Element is required to create a PaymentMethod.'}});
    }
    var card = element._card();
    if (card.error) {
      return Promise.resolve({error: card.error});
    }
    return this._call('POST', '/v1/payment_methods', {type: 'card', card: card, billing_details: billingDetails}).then(function (answer) {
      return answer.error ? {error: answer.error} : {paymentMethod: answer.body};
    });
  };

  // createPaymentMethod({type: 'card', card: element}), ({elements}), or ('card', element, data).
  Stripe.prototype.createPaymentMethod = function (typeOrData, element, data) {
    if (typeof typeOrData === 'string') {
      return this._createCardMethod(element, (data || {}).billing_details);
    }
    var params = typeOrData || {};
    if (params.elements) {
      var fromElements = params.elements.getElement('payment') || params.elements.getElement('card');
      return this._createCardMethod(fromElements, (params.params || {}).billing_details);
    }
    if (params.type !== 'card') {
      return Promise.resolve({error: {type: 'invalid_request_error', param: 'type', message: 'The fake Stripe.js makes only card PaymentMethods.'}});
    }
    return this._createCardMethod(params.card, params.billing_details);
  };

  // The PaymentMethod id to confirm with: given, made from an Element, or the intent's own.
  Stripe.prototype._paymentMethod = function (given) {
    if (given === undefined || given === null || typeof given === 'string') {
      return Promise.resolve({id: given || undefined});
    }
    return this._createCardMethod(given.card, given.billing_details).then(function (made) {
      return made.error ? {error: made.error} : {id: made.paymentMethod.id};
    });
  };

  Stripe.prototype._retrieve = function (clientSecret) {
    var id = intentId(clientSecret, 'retrievePaymentIntent');
    return this._call('GET', '/v1/payment_intents/' + id, {client_secret: clientSecret});
  };

  // Where a confirmed intent leaves the customer: paid, declined, or at 3-D Secure first.
  Stripe.prototype._settle = function (intent, clientSecret, handleActions) {
    var self = this;
    if (intent.status === 'requires_action' && handleActions) {
      return authenticate(actionUrl(intent)).then(function () {
        return self._retrieve(clientSecret);
      }).then(function (answer) {
        return answer.error ? {error: answer.error} : outcome(answer.body);
      });
    }
    return Promise.resolve(outcome(intent));
  };

  function outcome(intent) {
    if (intent.last_payment_error && intent.status === 'requires_payment_method') {
      var error = Object.assign({}, intent.last_payment_error, {payment_intent: intent});
      return {error: error};
    }
    return {paymentIntent: intent};
  }

  function actionUrl(intent) {
    var action = intent.next_action || {};
    if (action.type === 'use_stripe_sdk') {
      return action.use_stripe_sdk.stripe_js;
    }
    return action.redirect_to_url.url;
  }

  // The fake's 3-D Secure page in a modal; resolves when the page reports it is done.
  function authenticate(url) {
    return new Promise(function (resolve) {
      var overlay = document.createElement('div');
      overlay.id = MODAL_ID;
      overlay.setAttribute('role', 'dialog');
      overlay.style.cssText = 'position:fixed;inset:0;z-index:2147483647;background:rgba(0,0,0,.45);' +
        'display:flex;align-items:center;justify-content:center;';
      var frame = document.createElement('iframe');
      frame.name = MODAL_ID + '-frame';
      frame.title = '3D Secure authentication';
      frame.style.cssText = 'width:min(30rem,95vw);height:min(26rem,90vh);border:0;border-radius:8px;background:#fff;';
      frame.src = url + (url.indexOf('?') < 0 ? '?' : '&') + 'frame=1';
      function done(event) {
        if (event.origin !== ORIGIN || !event.data || event.data.type !== 'fake-stripe-3ds-complete') {
          return;
        }
        window.removeEventListener('message', done);
        overlay.parentNode.removeChild(overlay);
        resolve();
      }
      window.addEventListener('message', done);
      overlay.appendChild(frame);
      document.body.appendChild(overlay);
    });
  }

  Stripe.prototype._confirm = function (clientSecret, paymentMethod, returnUrl) {
    var self = this;
    var id = intentId(clientSecret, 'confirmPayment');
    return this._paymentMethod(paymentMethod).then(function (method) {
      if (method.error) {
        return {error: method.error};
      }
      var params = {client_secret: clientSecret, payment_method: method.id, return_url: returnUrl};
      return self._call('POST', '/v1/payment_intents/' + id + '/confirm', params);
    });
  };

  // confirmCardPayment(clientSecret, {payment_method: 'pm_...' | {card: element}}, {handleActions}).
  Stripe.prototype.confirmCardPayment = function (clientSecret, data, options) {
    intentId(clientSecret, 'confirmCardPayment');
    var self = this;
    data = data || {};
    var handleActions = !options || options.handleActions !== false;
    return this._confirm(clientSecret, data.payment_method, data.return_url).then(function (answer) {
      return answer.error ? {error: answer.error} : self._settle(answer.body, clientSecret, handleActions);
    });
  };

  Stripe.prototype.handleCardAction = function (clientSecret) {
    var self = this;
    return this._retrieve(clientSecret).then(function (answer) {
      return answer.error ? {error: answer.error} : self._settle(answer.body, clientSecret, true);
    });
  };

  // confirmPayment({elements, clientSecret, confirmParams: {return_url}, redirect}).
  Stripe.prototype.confirmPayment = function (options) {
    options = options || {};
    var elements = options.elements;
    var clientSecret = options.clientSecret || (elements && elements._options.clientSecret);
    intentId(clientSecret, 'confirmPayment');
    var confirmParams = options.confirmParams || {};
    var ifRequired = options.redirect === 'if_required';
    if (!confirmParams.return_url && !ifRequired) {
      throw IntegrationError('stripe.confirmPayment(): the `confirmParams.return_url` argument is required unless passing `redirect: \'if_required\'`');
    }
    var element = elements && (elements.getElement('payment') || elements.getElement('card'));
    var paymentMethod = confirmParams.payment_method ||
      (element ? {card: element, billing_details: (confirmParams.payment_method_data || {}).billing_details} : undefined);
    var self = this;
    return this._confirm(clientSecret, paymentMethod, confirmParams.return_url).then(function (answer) {
      if (answer.error) {
        return {error: answer.error};
      }
      var intent = answer.body;
      if (ifRequired) {
        return self._settle(intent, clientSecret, true);
      }
      if (intent.status === 'requires_action') {
        window.location.assign(actionUrl(intent));
        return new Promise(function () {});  // the page is leaving
      }
      var settled = outcome(intent);
      if (settled.error) {
        return settled;
      }
      var back = new URL(confirmParams.return_url, window.location.href);
      back.searchParams.set('payment_intent', intent.id);
      back.searchParams.set('payment_intent_client_secret', clientSecret);
      back.searchParams.set('redirect_status', 'succeeded');
      window.location.assign(back.toString());
      return new Promise(function () {});
    });
  };

  Stripe.prototype.retrievePaymentIntent = function (clientSecret) {
    return this._retrieve(clientSecret).then(function (answer) {
      return answer.error ? {error: answer.error} : {paymentIntent: answer.body};
    });
  };

  // redirectToCheckout({sessionId}): the fake's hosted page for a session the server made.
  Stripe.prototype.redirectToCheckout = function (options) {
    var sessionId = (options || {}).sessionId;
    if (typeof sessionId !== 'string' || !/^cs_[A-Za-z0-9_]+$/.test(sessionId)) {
      return Promise.resolve({error: {type: 'invalid_request_error', param: 'sessionId', message: 'Invalid value for redirectToCheckout: sessionId should be a Checkout Session id (cs_...).'}});
    }
    window.location.assign(ORIGIN + '/checkout/pay/' + encodeURIComponent(sessionId));
    return new Promise(function () {});
  };

  Stripe.version = 3;
  window.Stripe = Stripe;
})();
