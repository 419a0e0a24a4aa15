using TrackMulti.Web;

var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults();
builder.Services.AddRazorPages();
builder.Services.AddOptions<PageOptions>().Bind(builder.Configuration).ValidateDataAnnotations().ValidateOnStart();
builder.Services.AddSingleton<Microsoft.Extensions.Options.IValidateOptions<PageOptions>, PageOptionsValidator>();
builder.AddApiForwarding();

var app = builder.Build();

if (!app.Environment.IsDevelopment())
{
    app.UseExceptionHandler("/Error");
}

app.UseSecurityHeaders();
app.UseStaticFiles();
app.UseRateLimiter();
app.MapDefaultEndpoints();
app.MapHealthSummary();
app.MapRazorPages();
app.MapApiForwarding();

app.Run();
