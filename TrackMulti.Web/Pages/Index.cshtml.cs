using System.Text.Json;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace TrackMulti.Web.Pages;

/// <summary>
/// The seed's page. The FME client-side SDK key (public by design) and the visitor's user key are put into the page
/// here, on the server; nothing else about the back end reaches the browser.
/// </summary>
public sealed class IndexModel(IConfiguration configuration, IWebHostEnvironment environment) : PageModel
{
    /// <summary>The SDK's offline mode, used when no key is configured.</summary>
    public const string LocalhostKey = "localhost";

    public const string UserKeyCookie = "trackmulti_user";

    /// <summary>The page's settings for app.js, as JSON (System.Text.Json escapes &lt; and &gt;, so it is safe in a script tag).</summary>
    public string ClientConfigJson { get; private set; } = "{}";

    public void OnGet()
    {
        var authorizationKey = configuration["HARNESS_FME_API_KEY"] is { Length: > 0 } key ? key : LocalhostKey;
        ClientConfigJson = JsonSerializer.Serialize(new
        {
            authorizationKey,
            userKey = UserKey(),
            trafficType = "user",
            // Localhost mode evaluates flags from this map; with a real key FME serves them.
            features = new Dictionary<string, string> { ["track_multi_demo"] = "on" },
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
