using System.Text.Json;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.Extensions.Options;

namespace TrackMulti.Web.Pages;

/// <summary>
/// The seed's page. The FME client-side SDK key (public by design), where the SDK sends what it tracks, the flag the
/// page shows and the visitor's user key are put into the page here, on the server; nothing else about the back end
/// reaches the browser.
/// </summary>
public sealed class IndexModel(IOptions<PageOptions> options, IWebHostEnvironment environment) : PageModel
{
    public const string UserKeyCookie = "trackmulti_user";

    /// <summary>The page's settings for app.js, as JSON (System.Text.Json escapes &lt; and &gt;, so it is safe in a script tag).</summary>
    public string ClientConfigJson { get; private set; } = "{}";

    public TrackMode Mode => options.Value.EffectiveMode;

    public void OnGet()
    {
        var page = options.Value;
        ClientConfigJson = JsonSerializer.Serialize(new
        {
            authorizationKey = page.AuthorizationKey,
            userKey = UserKey(),
            trafficType = "user",
            trackMode = page.EffectiveMode.ToString().ToLowerInvariant(),
            // sdk mode: the SDK posts to this origin (the page adds it), which forwards to the Api.
            eventsPath = page.EffectiveMode == TrackMode.Sdk ? PageOptions.EventsPath : null,
            sdkUrl = page.SdkUrl,
            demoFlag = page.DemoFlag,
            // Localhost mode evaluates flags from this map; with a real key FME serves them.
            features = new Dictionary<string, string> { [page.DemoFlag] = "on" },
        });
    }

    /// <summary>An anonymous id that stays with the browser, so S3 rows join with FME data for the same visitor.</summary>
    private string UserKey()
    {
        if (Request.Cookies[UserKeyCookie] is { Length: > 0 and <= 250 } existing)
        {
            return existing;
        }

        var created = $"anon-{Guid.NewGuid():N}";
        Response.Cookies.Append(UserKeyCookie, created, new CookieOptions
        {
            HttpOnly = true,
            SameSite = SameSiteMode.Lax,
            Secure = !environment.IsDevelopment() && Request.IsHttps,
            MaxAge = TimeSpan.FromDays(365),
            IsEssential = true,
        });
        return created;
    }
}
