using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace TrackMulti.Web;

/// <summary>How the page's FME SDK is set up: its key, where it sends what it tracks, and the flag it shows.</summary>
public sealed class PageOptions
{
    /// <summary>The SDK's offline mode, used when no key is configured: flags come from a map, nothing is sent.</summary>
    public const string LocalhostKey = "localhost";

    /// <summary>Where the SDK posts events and impressions in <c>sdk</c> mode: the Web forwards it to the Api.</summary>
    public const string EventsPath = "/fme/api";

    /// <summary>The FME client-side SDK key (<c>HARNESS_FME_API_KEY</c>, public by design).</summary>
    [ConfigurationKeyName("HARNESS_FME_API_KEY")]
    public string? ApiKey { get; set; }

    /// <summary><c>TRACK_MODE</c>: <c>sdk</c> (the default with a real key) or <c>dual</c> (the default in localhost mode).</summary>
    [ConfigurationKeyName("TRACK_MODE")]
    public TrackMode? Mode { get; set; }

    /// <summary><c>FME_SDK_URL</c>: the SDK's <c>urls.sdk</c> (flags), for a proxy or a stand-in; streaming is then off.</summary>
    [ConfigurationKeyName("FME_SDK_URL")]
    [Url(ErrorMessage = "FME_SDK_URL must be an absolute http(s) URL.")]
    public string? SdkUrl { get; set; }

    /// <summary><c>FME_DEMO_FLAG</c>: the flag the page evaluates and shows (default <c>trackmulti_demo</c>).</summary>
    [ConfigurationKeyName("FME_DEMO_FLAG")]
    [RegularExpression(@"^[a-zA-Z][-_a-zA-Z0-9]{0,99}\z", ErrorMessage = "FME_DEMO_FLAG must be an FME flag name: a letter, then letters, digits, '-' or '_'.")]
    public string DemoFlag { get; set; } = "trackmulti_demo";

    public string AuthorizationKey => ApiKey is { Length: > 0 } key ? key : LocalhostKey;

    public bool LocalhostMode => AuthorizationKey == LocalhostKey;

    public TrackMode EffectiveMode => Mode ?? (LocalhostMode ? TrackMode.Dual : TrackMode.Sdk);

    /// <summary>The SDK's own hosts, as the page's Content-Security-Policy allows them: exactly those configured.</summary>
    public IReadOnlyList<string> SdkHosts
    {
        get
        {
            if (LocalhostMode)
            {
                return []; // offline: the SDK reaches nothing
            }
            var flags = SdkUrl is { } url
                ? [new Uri(url).GetLeftPart(UriPartial.Authority)]
                : new[] { "https://sdk.split.io", "https://auth.split.io", "https://streaming.split.io", "https://telemetry.split.io" };
            return EffectiveMode == TrackMode.Dual ? [.. flags, "https://events.split.io"] : flags;
        }
    }
}

public enum TrackMode
{
    /// <summary>The page calls the SDK once; the SDK posts to TrackMulti, which lands the event in S3 and forwards it to FME.</summary>
    Sdk,

    /// <summary>The seed's way: the SDK sends to FME and the page posts to <c>/api/track</c> too.</summary>
    Dual,
}

/// <summary>In localhost mode the SDK sends nothing anywhere, so <c>sdk</c> mode would land nothing.</summary>
public sealed class PageOptionsValidator : IValidateOptions<PageOptions>
{
    public ValidateOptionsResult Validate(string? name, PageOptions options) =>
        options is { LocalhostMode: true, Mode: TrackMode.Sdk }
            ? ValidateOptionsResult.Fail("TRACK_MODE=sdk needs a real HARNESS_FME_API_KEY: in localhost mode the FME SDK sends nothing.")
            : ValidateOptionsResult.Success;
}
