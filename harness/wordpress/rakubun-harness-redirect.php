<?php
/**
 * Plugin Name: Rakubun Harness Redirect
 * Description: Sends the Rakubun AI Content Generator's dashboard calls to a local rakubun-harness instead of https://app.rakubun.com. For development sites only.
 * Version: 1.0.0
 * License: MIT
 *
 * Install as a must-use plugin (wp-content/mu-plugins/), then either
 *   define('RAKUBUN_HARNESS_API_URL', 'http://127.0.0.1:PORT');   // in wp-config.php
 * or
 *   wp option update rakubun_harness_api_url http://127.0.0.1:PORT
 * with the api_url from the harness's harness.json. Without either, nothing is rewritten.
 *
 * To load Stripe.js from the harness's fake Stripe too (offline, with Stripe's test cards),
 * also set RAKUBUN_HARNESS_STRIPE_URL or the option rakubun_harness_stripe_url to
 * harness.json's stripe_url.
 */

if (!defined('ABSPATH')) {
    exit;
}

/** The base the plugin hard-codes in three places. */
const RAKUBUN_HARNESS_PRODUCTION_BASE = 'https://app.rakubun.com/api/v1';

/**
 * The harness's API base ("http://127.0.0.1:8000/api/v1"), or '' when none is configured.
 * Accepts the service origin (harness.json's api_url) or the full /api/v1 base.
 */
function rakubun_harness_api_base() {
    if (defined('RAKUBUN_HARNESS_API_URL')) {
        $base = (string) RAKUBUN_HARNESS_API_URL;
    } else {
        $base = (string) get_option('rakubun_harness_api_url', '');
    }
    $base = rtrim(trim($base), '/');
    if ($base === '') {
        return '';
    }
    if (substr($base, -strlen('/api/v1')) !== '/api/v1') {
        $base .= '/api/v1';
    }
    return $base;
}

/**
 * The harness URL for a production dashboard URL, or null when $url is not one.
 */
function rakubun_harness_rewrite_url($url) {
    $base = rakubun_harness_api_base();
    $prefix = RAKUBUN_HARNESS_PRODUCTION_BASE;
    if ($base === '' || !is_string($url) || strpos($url, $prefix) !== 0) {
        return null;
    }
    $rest = (string) substr($url, strlen($prefix));
    // Whole path segments only: "/api/v1", "/api/v1/...", "/api/v1?...".
    if ($rest !== '' && $rest[0] !== '/' && $rest[0] !== '?') {
        return null;
    }
    return $base . $rest;
}

/**
 * Answer the plugin's dashboard requests from the harness. Returning a response array from
 * pre_http_request short-circuits the original request; every header, the method and the
 * body travel unchanged, so the harness sees exactly what the plugin sent.
 */
function rakubun_harness_pre_http_request($preempt, $args, $url) {
    if (false !== $preempt) {
        return $preempt;
    }
    $target = rakubun_harness_rewrite_url($url);
    if (null === $target) {
        return $preempt;
    }
    // The harness listens on plain HTTP at 127.0.0.1; allow it for this request only.
    $args['reject_unsafe_urls'] = false;
    return wp_remote_request($target, $args);
}
add_filter('pre_http_request', 'rakubun_harness_pre_http_request', 10, 3);

/**
 * The fake Stripe's origin ("http://127.0.0.1:8001", harness.json's stripe_url), or '' when
 * none is configured.
 */
function rakubun_harness_stripe_url() {
    if (defined('RAKUBUN_HARNESS_STRIPE_URL')) {
        $url = (string) RAKUBUN_HARNESS_STRIPE_URL;
    } else {
        $url = (string) get_option('rakubun_harness_stripe_url', '');
    }
    return rtrim(trim($url), '/');
}

/**
 * script_loader_src: the plugin enqueues js.stripe.com/v3/ as "stripe-js"; load the fake
 * Stripe's Stripe.js instead, which talks to the fake with the dashboard's publishable key.
 * Only while a harness dashboard is configured: production's key means nothing to the fake.
 */
function rakubun_harness_stripe_js_src($src, $handle) {
    $stripe = rakubun_harness_stripe_url();
    if ('stripe-js' !== $handle || $stripe === '' || rakubun_harness_api_base() === '') {
        return $src;
    }
    if (!is_string($src) || strpos($src, 'https://js.stripe.com/v3') !== 0) {
        return $src;
    }
    return $stripe . '/v3/';
}
add_filter('script_loader_src', 'rakubun_harness_stripe_js_src', 10, 2);

/*
 * Credentials per dashboard. The plugin keeps one instance id, token, webhook secret and
 * registration status; a dashboard that did not issue them answers 401 (and 409 to a new
 * registration of the same instance). Production keeps the real options; each harness base
 * gets its own copy in rakubun_harness_credentials, so switching back needs no new
 * registration and removing this file leaves production's credentials as they were.
 */

/** The options the plugin's registration writes. */
const RAKUBUN_HARNESS_CREDENTIAL_OPTIONS = array(
    'rakubun_ai_instance_id',
    'rakubun_ai_api_token',
    'rakubun_ai_webhook_secret',
    'rakubun_ai_registration_status',
);

/** Where every harness dashboard's credentials live: base URL => option name => value. */
const RAKUBUN_HARNESS_CREDENTIALS = 'rakubun_harness_credentials';

/** The credentials kept for the configured harness ($base), as an array. */
function rakubun_harness_credentials_for($base) {
    $all = get_option(RAKUBUN_HARNESS_CREDENTIALS, array());
    return (is_array($all) && isset($all[$base]) && is_array($all[$base])) ? $all[$base] : array();
}

/**
 * pre_option_{name}: the harness's own value. Returning false would fall through to the real
 * (production) option, so an unset value answers the caller's default or ''.
 */
function rakubun_harness_pre_option_credential($pre, $option, $default = false) {
    $base = rakubun_harness_api_base();
    if ($base === '') {
        return $pre;
    }
    $kept = rakubun_harness_credentials_for($base);
    if (array_key_exists($option, $kept)) {
        return $kept[$option];
    }
    return false === $default ? '' : $default;
}

/** Store $value as the configured harness's $option; no-op when no harness is configured. */
function rakubun_harness_keep_credential($option, $value) {
    $base = rakubun_harness_api_base();
    $all = get_option(RAKUBUN_HARNESS_CREDENTIALS, array());
    if (!is_array($all)) {
        $all = array();
    }
    $kept = isset($all[$base]) && is_array($all[$base]) ? $all[$base] : array();
    $kept[$option] = $value;
    $all[$base] = $kept;
    update_option(RAKUBUN_HARNESS_CREDENTIALS, $all, false);
}

/**
 * pre_update_option_{name}: keep the value for the harness and answer the old real value,
 * which makes update_option leave the production option untouched.
 */
function rakubun_harness_pre_update_credential($value, $old_value, $option) {
    if (rakubun_harness_api_base() === '') {
        return $value;
    }
    rakubun_harness_keep_credential($option, $value);
    remove_filter("pre_option_{$option}", 'rakubun_harness_pre_option_credential', 10);
    $real = get_option($option);
    add_filter("pre_option_{$option}", 'rakubun_harness_pre_option_credential', 10, 3);
    return $real;
}

/**
 * add_option has no pre-filter and only inserts an absent option: move what it inserted
 * into the harness's credentials and delete the row, so production stays as it was.
 */
function rakubun_harness_added_credential($option, $value) {
    if (!in_array($option, RAKUBUN_HARNESS_CREDENTIAL_OPTIONS, true) || rakubun_harness_api_base() === '') {
        return;
    }
    rakubun_harness_keep_credential($option, $value);
    delete_option($option);
}

foreach (RAKUBUN_HARNESS_CREDENTIAL_OPTIONS as $rakubun_harness_option) {
    add_filter("pre_option_{$rakubun_harness_option}", 'rakubun_harness_pre_option_credential', 10, 3);
    add_filter("pre_update_option_{$rakubun_harness_option}", 'rakubun_harness_pre_update_credential', 10, 3);
}
unset($rakubun_harness_option);
add_action('added_option', 'rakubun_harness_added_credential', 10, 2);

/**
 * The plugin caches each user's balance for 5 minutes (transient rakubun_ai_credits_{id}) and
 * the dashboard's Stripe publishable key for a day (rakubun_ai_stripe_config_cache); after a
 * switch those would be the previous dashboard's, so drop them once.
 */
function rakubun_harness_forget_balances_after_a_switch() {
    $base = rakubun_harness_api_base();
    $current = $base === '' ? RAKUBUN_HARNESS_PRODUCTION_BASE : $base;
    $previous = get_option('rakubun_harness_dashboard', '');
    if ($previous === $current) {
        return;
    }
    global $wpdb;
    $wpdb->query(
        "DELETE FROM {$wpdb->options} WHERE option_name LIKE '\\_transient\\_rakubun\\_ai\\_credits\\_%'"
        . " OR option_name LIKE '\\_transient\\_timeout\\_rakubun\\_ai\\_credits\\_%'"
    );
    delete_transient('rakubun_ai_stripe_config_cache');
    wp_cache_flush();
    update_option('rakubun_harness_dashboard', $current, true);
}
add_action('muplugins_loaded', 'rakubun_harness_forget_balances_after_a_switch');
