using System.Text.RegularExpressions;
using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using Aspire.Hosting.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using TrackMulti.Tests.WholeApp;
using TrackMulti.Tests.Infrastructure;
using Xunit.Abstractions;

namespace TrackMulti.Tests.Browser;

/// <summary>The page in a real Chromium against the whole app (s3rver mode), as a visitor uses it.</summary>
[Collection(WholeAppCollection.Name)]
public sealed class PageTests(WholeAppFixture fixture, ITestOutputHelper output)
{
    private static readonly PageWaitForSelectorOptions Soon = new() { Timeout = 15_000 };

    [SkippableFact]
    public async Task Three_clicks_reach_FME_and_the_server_and_after_a_flush_S3_holds_them_under_the_pages_user_key()
    {
        await using var browser = await BrowserSession.StartAsync();
        var page = browser.Page;
        var errors = new List<string>();
        page.PageError += (_, error) => errors.Add(error);
        page.Console += (_, message) =>
        {
            // The page and the SDK live within the CSP, and the page loads nothing it lacks (its icon among them).
            if (message.Type == "error" || message.Text.Contains("Content Security Policy", StringComparison.OrdinalIgnoreCase))
            {
                errors.Add(message.Text);
            }
        };

        await page.GotoAsync(fixture.App.GetEndpoint("web", "http").ToString());

        // The SDK reached ready in its offline localhost mode (no key is configured in the test stack).
        await page.WaitForSelectorAsync("#sdk-status[data-state=localhost]", Soon);
        var userKey = await page.InputValueAsync("#user-key");
        Assert.Matches("^anon-[0-9a-f]{32}$", userKey);

        for (var click = 1; click <= 3; click++)
        {
            await page.ClickAsync("#send");
            await page.WaitForSelectorAsync($"#log li[data-event='{click}'] [data-role=server].ok", Soon);
        }
        var lines = page.Locator("#log li[data-event]");
        Assert.Equal(3, await lines.CountAsync());
        foreach (var line in await lines.AllAsync())
        {
            var text = await line.InnerTextAsync();
            Assert.Contains("FME SDK: accepted (localhost mode", text);
            Assert.Contains("server: stored", text);
        }

        // The SDK validates events itself: an invalid event type is refused the way FME would refuse it.
        Assert.False(await page.EvaluateAsync<bool>("() => window.trackmulti.client.track('user', 'bad event name!')"));
        Assert.True(await page.EvaluateAsync<bool>("() => window.trackmulti.client.track('user', 'valid_event')"));

        await page.ClickAsync("#flush");
        var flushed = await page.WaitForSelectorAsync("#log [data-role=flush].ok", Soon);
        Assert.Matches(new Regex(@"flushed \d+ events to app-tests/events/batch-"), await flushed!.InnerTextAsync());

        // S3, read with the AWS SDK: the three clicks, each with the page's user key, values 1..3.
        using var s3 = fixture.CreateS3Client();
        var mine = (await StoredObject.ReadAllAsync(s3, WholeAppFixture.Bucket))
            .SelectMany(o => o.Lines())
            .Where(line => line["key"]?.GetValue<string>() == userKey)
            .ToList();
        Assert.Equal([1, 2, 3], mine.Select(line => line["value"]!.GetValue<int>()));
        Assert.All(mine, line => Assert.Equal("button_click", line["name"]!.GetValue<string>()));
        Assert.All(mine, line => Assert.Equal("/", line["properties"]!["page"]!.GetValue<string>()));

        // The panels show the server's view: the bucket, and the new object with its event count.
        await page.WaitForSelectorAsync("dd[data-field=s3Bucket]:text('app-tests')", Soon);
        await page.WaitForSelectorAsync("#objects tbody tr", Soon);

        output.WriteLine($"Screenshot: {await browser.ScreenshotAsync("page-after-clicks")}");
        await page.SetViewportSizeAsync(390, 844); // a phone
        output.WriteLine($"Screenshot: {await browser.ScreenshotAsync("page-on-a-phone")}");
        Assert.Empty(errors);
    }

    [SkippableFact]
    public async Task After_a_flush_the_object_list_shows_the_new_object_without_waiting_for_its_timer()
    {
        await using var browser = await BrowserSession.StartAsync();
        var page = browser.Page;
        await page.Clock.InstallAsync(); // the page's timers run on a clock the test can stop
        await page.GotoAsync(fixture.App.GetEndpoint("web", "http").ToString());
        await page.WaitForSelectorAsync("#sdk-status[data-state=localhost]", Soon);
        await page.ClickAsync("#send");
        await page.WaitForSelectorAsync("#log li[data-event='1'] [data-role=server].ok", Soon);

        // From here no timer of the page fires (the list's own refresh among them): only the flush can show the object.
        await page.Clock.PauseAtAsync(DateTime.Now.AddSeconds(1));
        await page.ClickAsync("#flush");
        var flushed = await page.WaitForSelectorAsync("#log [data-role=flush].ok", Soon);
        var key = Regex.Match(await flushed!.InnerTextAsync(), $@"to {WholeAppFixture.Bucket}/(\S+)").Groups[1].Value;
        Assert.StartsWith("events/", key);

        await page.WaitForSelectorAsync($"#objects tbody td:text-is('{key}')", Soon);
    }

    [SkippableFact]
    public async Task The_page_carries_no_server_secret_and_no_Api_address()
    {
        await using var browser = await BrowserSession.StartAsync();

        var response = await browser.Page.GotoAsync(fixture.App.GetEndpoint("web", "http").ToString());
        var html = await response!.TextAsync();

        // The Api's keys exist (the AppHost generates them) and stay on the server.
        var model = fixture.App.Services.GetRequiredService<DistributedApplicationModel>();
        foreach (var name in new[] { "ingest-api-key", "admin-api-key" })
        {
            var key = await model.Resources.OfType<ParameterResource>().Single(p => p.Name == name).GetValueAsync(CancellationToken.None);
            Assert.False(string.IsNullOrEmpty(key));
            Assert.DoesNotContain(key!, html);
        }
        var csp = await response.HeaderValueAsync("content-security-policy");
        Assert.Contains("default-src 'self'", csp);
        Assert.Contains("connect-src 'self';", csp); // localhost mode: the SDK reaches no host at all
        Assert.Equal("nosniff", await response.HeaderValueAsync("x-content-type-options"));

        Assert.DoesNotContain("S3RVER", html); // the emulator's credentials
        Assert.DoesNotContain(fixture.App.GetEndpoint("api", "http").ToString().TrimEnd('/'), html);
        Assert.DoesNotContain(fixture.App.GetEndpoint("s3", "http").ToString().TrimEnd('/'), html);
        Assert.Contains("\"authorizationKey\":\"localhost\"", html); // the FME client-side key is public by design

        // Its icon is declared and served (a browser asks for /favicon.ico, a 404, when a page declares none).
        var icon = await browser.Page.GetAttributeAsync("link[rel=icon]", "href");
        var served = await browser.Page.APIRequest.GetAsync(new Uri(new Uri(browser.Page.Url), icon).ToString());
        Assert.Equal(200, served.Status);
        Assert.StartsWith("image/svg+xml", served.Headers["content-type"]);
    }
}
