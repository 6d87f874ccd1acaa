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
